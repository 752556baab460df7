"""Bad input to reproduce's entrypoints: one line, exit status 2, nothing written; NaN losses stop the baseline."""

from __future__ import annotations

from pathlib import Path

import pytest
from bad_input import make_fixtures, nothing_in, run_bad

from common.models import build_model
from common.runtime import save_checkpoint
from reproduce import __main__ as reproduce_main
from reproduce import baseline_digits
from reproduce.compare import run as compare

BASE = ["--epochs", "1", "--device", "cpu", "--data", "digits"]
COMPARE = ["--quick", "--methods", "hawq"]


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("reproduce_bad")
    files = {k: str(v) for k, v in make_fixtures(root).items()}
    state = {"epoch": 1, "state_dict": build_model("resnet20", 10).state_dict(), "optimizer": {}, "scheduler": {},
             "best_acc1": 0.0}  # fmt: skip
    files["other_run"] = str(save_checkpoint(state, root / "other_run.pth.tar"))
    return files


BASELINE_CASES = [
    ("out is a file", ["--out", "{a_file}"], "--out {a_file}: exists and is not a folder"),
    ("out under a file", ["--out", "{a_file}/x"], "cannot create the folder, {a_file} is a file"),
    ("lr 0", ["--lr", "0"], "--lr must be > 0"),
    ("epochs 0", ["--epochs", "0"], "--epochs must be >= 1"),
    ("batch 0", ["--batch-size", "0"], "--batch-size must be >= 1"),
    ("resume a bare state dict", ["--resume", "{tiny_bare}"], "--resume {tiny_bare} is a bare state dict"),
    ("resume another entrypoint's", ["--resume", "{tiny_full}"], "no 'optimizer' entry"),
    ("resume another arch", ["--resume", "{other_run}"], "does not fit the model: fc.weight has shape (10, 64)"),
    ("resume missing", ["--resume", "{a_file}.missing"], "resume checkpoint not found"),
    ("resume garbage", ["--resume", "{garbage}"], "unreadable as a tensor checkpoint"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "needle"), [c[1:] for c in BASELINE_CASES], ids=[c[0] for c in BASELINE_CASES]
)
def test_baseline_bad_input(extra, needle, fx, tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    line = run_bad(baseline_digits.main, [*BASE, "--out", str(out), *[s.format(**fx) for s in extra]], capsys)
    assert needle.format(**fx) in line
    assert nothing_in(out)


def test_baseline_nan_loss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    line = run_bad(baseline_digits.main, [*BASE, "--epochs", "2", "--lr", "1e10", "--out", str(out)], capsys)
    assert "non-finite loss at epoch 0 step" in line and "no checkpoint was written" in line
    assert not (out / "checkpoint.pth.tar").exists() and not (out / "final.json").exists()


COMPARE_CASES = [
    ("out is a file", ["--out", "{a_file}"], "--out {a_file}: exists and is not a folder"),
    ("lr 0", ["--lr", "0"], "--lr must be > 0"),
    ("epochs 0", ["--epochs", "0"], "--epochs must be >= 1"),
    ("wbits nan", ["--wbits", "nan"], "--wbits must be a finite number"),
    ("baseline epochs 0", ["--baseline-epochs", "0"], "--baseline-epochs must be >= 1"),
    ("float checkpoint of another arch", ["--float-checkpoint", "{other_bare}"], "does not fit the model"),
    ("float checkpoint garbage", ["--float-checkpoint", "{garbage}"], "unreadable as a tensor checkpoint"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "needle"), [c[1:] for c in COMPARE_CASES], ids=[c[0] for c in COMPARE_CASES]
)
def test_compare_bad_input(extra, needle, fx, tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    line = run_bad(compare.main, [*COMPARE, "--out", str(out), *[s.format(**fx) for s in extra]], capsys)
    assert needle.format(**fx) in line
    assert nothing_in(out)


def test_reproduce_out_is_a_file(fx, capsys) -> None:  # noqa: ANN001
    line = run_bad(reproduce_main.main, ["--only", "costs", "--out", fx["a_file"]], capsys)
    assert "exists and is not a folder" in line
