"""Bad input to ``hmq.main`` and ``hmq.pareto``: one line, exit status 2, nothing written; NaN losses stop the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from bad_input import make_fixtures, nothing_in, run_bad

from hmq import main as hmq_main
from hmq import pareto

FAST = ["--dataset", "digits", "--data_dir", "digits", "--network_name", "tiny_resnet", "--image_size", "8",
        "--batch_size", "96", "--num_workers", "0", "--cycle_size", "1", "--n_target_steps", "2", "--n_epochs", "1",
        "--n_epochs_final", "1", "--target_compression", "8", "--device", "cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {k: str(v) for k, v in make_fixtures(tmp_path_factory.mktemp("hmq_bad")).items()}


CASES = [
    ("out is a file", ["--out", "{a_file}"], "--out {a_file}: exists and is not a folder"),
    ("out under a file", ["--out", "{a_file}/x"], "cannot create the folder, {a_file} is a file"),
    ("lr_start 0", ["--lr_start", "0"], "--lr_start must be > 0"),
    ("lr_start nan", ["--lr_start", "nan"], "--lr_start must be a finite number"),
    ("lr_coefficient -1", ["--lr_coefficient", "-1"], "--lr_coefficient must be > 0"),
    ("weight decay -1", ["--weight_decay", "-1"], "--weight_decay must be >= 0"),
    ("gamma nan", ["--gamma", "nan"], "--gamma must be a finite number"),
    ("temp_step nan", ["--temp_step", "nan"], "--temp_step must be a finite number"),
    ("stats_batches 0", ["--stats_batches", "0"], "--stats_batches must be >= 1"),
    ("train_fraction 0", ["--train_fraction", "0"], "--train_fraction must be in (0, 1]"),
    ("resume a bare state dict", ["--resume", "{tiny_bare}"], "is a bare state dict"),
    ("resume another entrypoint's", ["--resume", "{other_full}"], "no 'stage' entry"),
    ("resume garbage", ["--resume", "{garbage}"], "unreadable as a tensor checkpoint"),
    ("pretrained another arch", ["--pretrained", "{other_bare}"], "keys not in tiny_resnet"),
    ("bit_config malformed", ["--n_epochs", "0", "--bit_config", "{bad_json}"], "not valid JSON"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hmq_bad_input(extra, needle, fx, tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    line = run_bad(hmq_main.main, [*FAST, "--out", str(out), *[s.format(**fx) for s in extra]], capsys)
    assert needle.format(**fx) in line
    assert nothing_in(out)


def test_resume_of_another_architecture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A real resume.pt of HMQ's resnet20 given to a tiny_resnet run: the first mismatching tensor is named."""
    from common.models import build_model
    from common.runtime import save_checkpoint

    state = {"stage": "search", "epoch": 0, "model": build_model("resnet20", 10).state_dict(), "optimizers": [],
             "scaler": {}}  # fmt: skip
    resume = save_checkpoint(state, tmp_path / "resume.pt")
    line = run_bad(hmq_main.main, [*FAST, "--out", str(tmp_path / "out"), "--resume", str(resume)], capsys)
    assert f"--resume {resume} does not fit the model" in line and nothing_in(tmp_path / "out")


def test_nan_loss_stops_the_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    line = run_bad(hmq_main.main, [*FAST, "--lr_start", "1e39", "--out", str(out)], capsys)
    assert "non-finite loss at epoch 0 step" in line and "no checkpoint was written" in line
    assert not (out / "resume.pt").exists() and not (out / "final.json").exists()


def test_pareto_output(fx, capsys) -> None:  # noqa: ANN001
    root = str(Path(fx["a_file"]).parent)
    line = run_bad(pareto.main, [root, "--out", root], capsys)
    assert "is a folder, expected a file name" in line
