"""Bad input to ProQHA's entrypoints: one line, exit status 2, nothing written; NaN losses stop the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from bad_input import make_fixtures, nothing_in, run_bad

from common.runtime import save_checkpoint
from proqha.main import search, train
from proqha.measure import compute

QUICK = ["--dataset", "digits", "--arch", "resnet20", "--num_layers", "8", "--data_dir", "digits",
         "--train_fraction", "0.1", "--train_batch_size", "64", "--eval_batch_size", "256", "--workers", "0",
         "--seed", "0"]  # fmt: skip
TRAIN = [*QUICK, "--archtype", "quant", "--k_bits", "8", "--lr", "0.01", "--train_epochs", "1"]
COMPUTE = ["--dataset", "digits", "--arch", "resnet20", "--num_layers", "8", "--k_bits", "4"]


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("proqha_bad")
    files = {k: str(v) for k, v in make_fixtures(root).items()}
    for name, text in (("broken_list", "[4, 4,"), ("str_list", '["4", "x"]')):
        (root / f"{name}.json").write_text(text)
        files[name] = str(root / f"{name}.json")
    stale = root / "stale" / "checkpoint"
    stale.mkdir(parents=True)
    save_checkpoint({"epoch": 1, "state_dict": {}}, stale / "checkpoint.pt")
    files["stale"] = str(root / "stale")
    return files


CASES = [
    ("out is a file", ["--out", "{a_file}"], "--out {a_file}: exists and is not a folder"),
    ("out under a file", ["--out", "{a_file}/x"], "cannot create the folder, {a_file} is a file"),
    ("lr nan", ["--lr", "nan"], "--lr must be a finite number"),
    ("momentum -1", ["--momentum", "-1"], "--momentum must be >= 0"),
    ("weight decay -1", ["--weight_decay", "-1"], "--weight_decay must be >= 0"),
    ("bits_file broken JSON", ["--bits_file", "{broken_list}"], "not valid JSON (Expecting value at line 1 column 7)"),
    ("bits_file malformed bit config", ["--bits_file", "{bad_json}"], "not valid JSON"),
    ("bits_file strings", ["--bits_file", "{str_list}"], "a bit list must hold integers"),
    ("resume another arch", ["--resume", "{other_bare}"], "checkpoint does not fit the model"),
    ("resume garbage", ["--resume", "{garbage}"], "unreadable as a tensor checkpoint"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_train_bad_input(extra, needle, fx, tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    line = run_bad(train.main, [*TRAIN, "--out", str(out), *[s.format(**fx) for s in extra]], capsys)
    assert needle.format(**fx) in line
    assert nothing_in(out)


def test_stale_checkpoint_in_out_is_named(fx, capsys) -> None:  # noqa: ANN001
    line = run_bad(train.main, [*TRAIN, "--out", fx["stale"]], capsys)
    assert "checkpoint.pt: not a checkpoint of this entrypoint (no 'optimizer' entry" in line


def test_search_and_compute_bad_input(fx, tmp_path, capsys) -> None:  # noqa: ANN001
    cases = [
        (search.main, [*QUICK, "--base_data_dir", "digits", "--out", fx["a_file"]], "exists and is not a folder"),
        (search.main, [*QUICK, "--base_data_dir", "digits", "--lr", "nan", "--out", str(tmp_path / "s")],
         "--lr must be a finite number"),
        (search.main, [*QUICK, "--base_data_dir", "digits", "--resume", fx["other_bare"], "--out", str(tmp_path / "s")],
         "checkpoint does not fit the model"),
        (compute.main, [*COMPUTE, "--out", str(tmp_path)], "is a folder, expected a file name"),
        (compute.main, [*COMPUTE, "--out", f"{fx['a_file']}/c.json"], "cannot create the file"),
        (compute.main, [*COMPUTE, "--bits_file", fx["broken_list"]], "not valid JSON"),
    ]  # fmt: skip
    for main, argv, needle in cases:
        assert needle in run_bad(main, argv, capsys), argv
    assert sorted(tmp_path.iterdir()) == []


def test_nan_loss_stops_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    line = run_bad(train.main, [*TRAIN, "--lr", "1e10", "--train_epochs", "2", "--out", str(out)], capsys)
    assert "non-finite loss at epoch 0 step" in line and "no checkpoint was written" in line
    assert not (out / "checkpoint").exists() and not (out / "final.json").exists()
