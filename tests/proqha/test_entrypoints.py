"""The three entrypoints end to end on the embedded digits, with the original flags; bad input exits 2."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common.bitconfig import read_bitconfig, to_proqha
from common.runtime import run_main
from proqha.main import search, train
from proqha.measure import compute

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--dataset", "digits", "--arch", "resnet20", "--num_layers", "8", "--data_dir", "digits"]
QUICK += [
    "--train_fraction",
    "0.05",
    "--train_batch_size",
    "32",
    "--eval_batch_size",
    "400",
    "--workers",
    "0",
]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train")
    argv = QUICK + [
        "--archtype",
        "quant",
        "--k_bits",
        "8",
        "--ratio",
        "1.0",
        "--lr",
        "0.01",
        "--train_epochs",
        "1",
    ]
    assert train.main(argv + ["--clip", "--seed", "0", "--out", str(out)]) == 0
    return out


def test_train_writes_checkpoints_and_bitconfig(baseline) -> None:
    best = torch.load(baseline / "checkpoint" / "model_best.pt", weights_only=True)
    assert set(best) >= {"state_dict", "epoch", "best_prec1", "kbits"} and best["kbits"] == [8] * 12
    assert read_bitconfig(baseline / "bitconfig.json").arch == "proqha_cifar_resnet8"
    assert json.loads((baseline / "final.json").read_text())["archtype"] == "quant"


def test_float_baseline_runs(tmp_path) -> None:
    argv = QUICK + [
        "--archtype",
        "origin",
        "--train_epochs",
        "1",
        "--lr",
        "0.01",
        "--seed",
        "0",
        "--out",
        str(tmp_path),
    ]
    assert train.main(argv) == 0
    state = torch.load(tmp_path / "checkpoint" / "checkpoint.pt", weights_only=True)["state_dict"]
    assert not any(k.endswith(".alpha") for k in state)


def test_three_round_search(baseline, tmp_path) -> None:
    argv = QUICK + ["--base_data_dir", "digits", "--resume", str(baseline / "checkpoint" / "model_best.pt")]
    argv += [
        "--step",
        "3",
        "--lam",
        "2",
        "--search_epochs",
        "1",
        "--lr",
        "1e-3",
        "--k_bits",
        "8",
        "--ratio",
        "0.5",
    ]
    assert search.main(argv + ["--seed", "11", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "search_log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [0, 1, 2]
    costs = [0.25] + [float(r["cost"]) for r in rows]  # the 8-bit start costs 8/32
    assert all(b < a for a, b in zip(costs, costs[1:], strict=False)), costs
    previous = [8] * 12
    for s, row in enumerate(rows):
        bits = [int(row[f"kbits{i + 1}"]) for i in range(12)]
        ckpt = torch.load(tmp_path / "checkpoint" / f"{s}.pt", weights_only=True)
        assert ckpt["kbits"] == bits and ckpt["cost"] == pytest.approx(float(row["cost"]))
        cfg = read_bitconfig(tmp_path / "bitconfigs" / f"round_{s}.json")
        assert to_proqha(cfg) == bits and cfg.costs["proqha_cost"] == pytest.approx(float(row["cost"]))
        lowered = [i for i in range(12) if bits[i] != previous[i]]
        assert all(bits[i] == max(2, previous[i] - 1) for i in lowered) and 0 < len(lowered) <= 6
        previous = bits
    assert to_proqha(read_bitconfig(tmp_path / "bitconfig.json")) == previous


def test_compute_prints_the_table_ratio(capsys) -> None:
    assert (
        compute.main(["--dataset", "imagenet", "--arch", "resnet", "--num_layers", "18", "--k_bits", "5"])
        == 0
    )
    assert "computation ratio 0.15625" in capsys.readouterr().out


BAD = [
    ["--k_bits", "abc"],
    ["--num_layers", "51"],
    ["--arch", "vgg", "--num_layers", "18"],
    ["--resume", "/nonexistent/ckpt.pt", "--num_layers", "18"],
    ["--k_bits", "40", "--num_layers", "18"],
]


@pytest.mark.parametrize("extra", BAD)
def test_bad_input_is_one_line_and_exit_2(extra, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        run_main(compute.main, ["--dataset", "imagenet", "--arch", "resnet", *extra])
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), lines


def test_bad_input_from_the_script_path() -> None:
    cmd = [
        sys.executable,
        str(ROOT / "proqha" / "main" / "search.py"),
        "--dataset",
        "imagenet",
        "--num_layers",
        "7",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
