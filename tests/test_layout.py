"""Layout rules of the test tree: without __init__.py files, pytest needs unique test-module basenames."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_test_module_basenames_are_unique() -> None:
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert not [n for n, c in names.items() if c > 1]


def test_no_init_files_under_tests() -> None:
    assert not list(TESTS.rglob("__init__.py"))  # an __init__.py here would shadow the `common` package
