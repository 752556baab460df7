"""Helpers of the per-entrypoint bad-input tables (Contract 6): run ``main`` through ``run_main`` in-process.

Importable from every test folder because ``tests/conftest.py`` puts ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from common.models import build_model
from common.runtime import run_main, save_checkpoint


def run_bad(
    main: Callable[..., Any], argv: Sequence[str], capsys: pytest.CaptureFixture[str], code: int = 2
) -> str:
    """Run ``main(argv)`` through ``run_main``; assert exit ``code``, one ``error:`` line and no traceback.

    Lines logged before the error (a run that diverged) are allowed; the error must be the last line and the
    only one starting with ``error:``. Returns that line.
    """
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        run_main(main, list(argv))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert stop.value.code == code, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    assert lines and sum(line.startswith("error:") for line in lines) == 1, err[-2000:]
    assert lines[-1].startswith("error:"), err[-2000:]
    return lines[-1]


def nothing_in(path: Path) -> bool:
    """True when ``path`` does not exist or is an empty folder."""
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def make_fixtures(root: Path) -> dict[str, Path]:
    """Files the tables share: checkpoints of ``tiny_resnet`` and of another model, junk, a plain file."""
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    tiny = build_model("tiny_resnet", num_classes=10).state_dict()
    other = build_model("resnet20", num_classes=10).state_dict()
    files = {
        "tiny_bare": save_checkpoint(tiny, root / "tiny_bare.pth"),
        "tiny_full": save_checkpoint({"epoch": 1, "state_dict": tiny}, root / "tiny_full.pth"),
        "other_bare": save_checkpoint(other, root / "other_bare.pth"),
        "other_full": save_checkpoint({"epoch": 1, "state_dict": other}, root / "other_full.pth"),
        "garbage": root / "garbage.pth",
        "a_file": root / "a_file",
        "bad_json": root / "bad.json",
    }
    files["garbage"].write_bytes(b"this is not a checkpoint")
    files["a_file"].write_text("x")
    files["bad_json"].write_text('{"arch": "tiny_resnet", "layers": {,}}')
    return files
