"""Bad input to HAQ's entrypoints: one line, exit status 2, nothing written; NaN losses stop the run."""

from __future__ import annotations

import json

import pytest
from bad_input import make_fixtures, nothing_in, run_bad

from haq import finetune, pretrain, rl_quantize
from haq.lib.simulator import build_table
from haq.lib.utils import make_data

STRATEGY = json.dumps([2, 3, 3, 4, 4, 2, 2, 3, 3, 4, 4, 2, 8])
FINETUNE = ["-a", "tiny_resnet", "-d", "digits", "--data_name", "digits", "-j", "0", "--strategy", STRATEGY,
            "--manualSeed", "1", "--epochs", "1", "--train_batch", "256", "--device", "cpu"]  # fmt: skip
PRETRAIN = ["-a", "tiny_resnet", "-d", "digits", "--data_name", "digits", "-j", "0", "--epochs", "1",
            "--train_batch", "256", "--lr", "0.05", "--manualSeed", "1", "--device", "cpu"]  # fmt: skip
SEARCH = ["--arch", "tiny_resnet", "--preserve_ratio", "0.1", "--dataset", "digits", "--pretrained", "none",
          "--train_episode", "2", "--warmup", "0", "--train_size", "32", "--val_size", "16", "--data_bsize", "16",
          "--n_worker", "0", "--bsize", "4", "--seed", "3", "--device", "cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("haq_bad")
    return {"root": str(root), **{k: str(v) for k, v in make_fixtures(root).items()}}


TRAINING_CASES = [
    ("-c is a file", ["-c", "{a_file}"], "-c/--checkpoint {a_file}: exists and is not a folder"),
    ("-c under a file", ["-c", "{a_file}/x"], "cannot create the folder, {a_file} is a file"),
    ("lr 0", ["--lr", "0"], "--lr must be > 0"),
    ("lr nan", ["--lr", "nan"], "--lr must be a finite number"),
    ("epochs 0", ["--epochs", "0"], "--epochs must be >= 1"),
    ("train batch 0", ["--train_batch", "0"], "--train_batch must be >= 1"),
    ("test batch 0", ["--test_batch", "0"], "--test_batch must be >= 1"),
    ("workers -1", ["-j", "-1"], "-j/--workers must be >= 0"),
    ("warmup -1", ["--warmup_epoch", "-1"], "--warmup_epoch must be >= 0"),
    ("resume missing", ["--resume", "{a_file}.missing"], "checkpoint not found"),
    ("resume garbage", ["--resume", "{garbage}"], "unreadable as a tensor checkpoint"),
    ("resume another arch", ["--resume", "{other_full}"], "--resume {other_full} does not fit the model: fc.weight"),
    ("evaluate another arch", ["--resume", "{other_bare}", "-e"], "does not fit the model: fc.weight"),
    ("resume a bare state dict", ["--resume", "{tiny_bare}"], "is a bare state dict (weights only)"),
    ("data folder missing", ["-d", "{a_file}.nodata", "--data_name", "imagenet"], "data folder not found"),
]  # fmt: skip


def _fill(items: list[str], fx: dict[str, str]) -> list[str]:
    return [s.format(**fx) for s in items]


@pytest.mark.parametrize("entry", ["finetune", "pretrain"])
@pytest.mark.parametrize(
    ("extra", "needle"), [c[1:] for c in TRAINING_CASES], ids=[c[0] for c in TRAINING_CASES]
)
def test_finetune_pretrain_bad_input(entry, extra, needle, fx, tmp_path, capsys) -> None:  # noqa: ANN001
    main, base = (finetune.main, FINETUNE) if entry == "finetune" else (pretrain.main, PRETRAIN)
    out = tmp_path / "out"
    line = run_bad(main, [*base, "-c", str(out), *_fill(extra, fx)], capsys)
    assert _fill([needle], fx)[0] in line
    assert nothing_in(out)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--bit-config", "{bad_json}"], "not valid JSON"),
        (["--strategy", "[2, 3,"], "neither a preset"),
        (["--strategy", json.dumps([2] * 12 + [0])], "layer 'fc': bits must be integers >= 1"),
    ],
)
def test_finetune_strategy_bad_input(extra, needle, fx, tmp_path, capsys) -> None:  # noqa: ANN001
    line = run_bad(finetune.main, [*FINETUNE, "-c", str(tmp_path / "out"), *_fill(extra, fx)], capsys)
    assert needle in line and nothing_in(tmp_path / "out")


SEARCH_CASES = [
    ("output under a file", ["--output", "{a_file}"], "cannot create the folder, {a_file} is a file"),
    ("finetune_lr 0", ["--finetune_lr", "0"], "--finetune_lr must be > 0"),
    ("lr_c nan", ["--lr_c", "nan"], "--lr_c must be a finite number"),
    ("finetune_epoch 0", ["--finetune_epoch", "0"], "--finetune_epoch must be >= 1"),
    ("n_worker -1", ["--n_worker", "-1"], "--n_worker must be >= 0"),
    ("tau 2", ["--tau", "2"], "--tau must be in (0, 1]"),
    ("bitconfig is a folder", ["--bitconfig", "{root}"], "is a folder, expected a file name"),
    ("resume garbage", ["--resume", "{garbage}"], "unreadable as a tensor checkpoint"),
    ("resume a state dict", ["--resume", "{tiny_bare}"], "is a bare state dict"),
    ("resume auto without a state", ["--resume", "auto"], "search_state.pth: no such file"),
    ("latency table garbage",
     ["--arch", "qtiny_resnet", "--linear_quantization", "--min_bit", "2", "--float_bit", "8", "--latency_table",
      "{garbage}"], "is not a NumPy table file"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "needle"), [c[1:] for c in SEARCH_CASES], ids=[c[0] for c in SEARCH_CASES])
def test_rl_quantize_bad_input(extra, needle, fx, tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    line = run_bad(rl_quantize.main, [*SEARCH, "--output", str(out), *_fill(extra, fx)], capsys)
    assert _fill([needle], fx)[0] in line
    assert nothing_in(out)


def test_table_and_make_data_outputs(fx, tmp_path, capsys) -> None:  # noqa: ANN001
    line = run_bad(
        build_table.main, ["--arch", "qtiny_resnet", "--dataset", "digits", "--out", str(tmp_path)], capsys
    )
    assert "is a folder, expected a file name" in line
    out = f"{fx['a_file']}/t.npy"
    line = run_bad(build_table.main, ["--arch", "qtiny_resnet", "--dataset", "digits", "--out", out], capsys)
    assert "cannot create the file" in line
    line = run_bad(make_data.main, ["--src", str(tmp_path), "--dst", f"{fx['a_file']}/x"], capsys)
    assert f"--dst {fx['a_file']}/x: cannot create the folder" in line


@pytest.mark.parametrize("entry", ["finetune", "pretrain", "rl_quantize"])
def test_nan_loss_stops_before_any_checkpoint(entry, tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    if entry == "rl_quantize":
        argv, main = [*SEARCH, "--finetune_lr", "1e12", "--output", str(out)], rl_quantize.main
        what, saved = (
            "non-finite loss of the in-search fine-tune at epoch 0 step",
            "tiny_resnet_digits/search_state.pth",
        )
    else:
        main = finetune.main if entry == "finetune" else pretrain.main
        base = FINETUNE if entry == "finetune" else PRETRAIN
        argv, what, saved = (
            [*base, "--lr", "1e10", "-c", str(out)],
            "non-finite loss at epoch 0 step",
            "checkpoint.pth.tar",
        )
    line = run_bad(main, argv, capsys)
    assert what in line and "no checkpoint was written" in line
    assert not (out / saved).exists() and not list(out.rglob("final.json"))
