"""One adapter module per method; each exports ``METHOD``, a :class:`reproduce.compare.method.Method`."""

from __future__ import annotations

import importlib

from reproduce.compare.method import Method

NAMES = ("hawq", "haq", "hmq", "ompq", "proqha")


def load_method(name: str) -> Method:
    """The adapter of ``name`` (one of :data:`NAMES`)."""
    if name not in NAMES:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(NAMES)}")
    return importlib.import_module(f"reproduce.compare.methods.{name}").METHOD
