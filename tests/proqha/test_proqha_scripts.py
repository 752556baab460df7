"""proqha/scripts/run.sh then search.sh on the embedded digits, sized down through their environment overrides."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

import proqha.models  # noqa: F401  (registers proqha_cifar_resnet8 for read_bitconfig)
from common.bitconfig import read_bitconfig, to_proqha

ROOT = Path(__file__).resolve().parents[2]
# the smallest options, as in test_entrypoints.py (appended last, so they win over the scripts' batch size)
QUICK = "--train_fraction 0.05 --train_batch_size 32 --eval_batch_size 400 --workers 0"


def _bash(script: str, args: list[str], env: dict[str, str]) -> None:
    # one intra-op thread: on a shared 2-core machine this is several times faster and changes no result
    full = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", **env}
    cmd = ["bash", str(ROOT / "proqha" / "scripts" / script), str(ROOT), *args]
    proc = subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


def test_run_then_search_scripts_on_digits(tmp_path) -> None:
    base = {"DATASET": "digits", "DATA_DIR": "digits"}
    run_env = {
        **base,
        "TRAIN_EPOCHS": "1",
        "LR": "0.01",
        "OUT": str(tmp_path),
        "EXTRA_ARGS": QUICK + " --seed 0",
    }
    _bash("run.sh", ["", "base", "", "resnet20", "8"], run_env)
    for archtype in ("origin", "quant"):
        out = tmp_path / f"base-{archtype}"
        assert (out / "checkpoint" / "model_best.pt").is_file() and (out / "final.json").is_file()
        args = json.loads((out / "args.json").read_text())
        assert (args["dataset"], args["archtype"], args["train_epochs"], args["train_batch_size"]) == (
            "digits",
            archtype,
            1,
            32,
        )
    best = tmp_path / "base-quant" / "checkpoint" / "model_best.pt"
    assert torch.load(best, weights_only=True)["kbits"] == [8] * 12

    out = tmp_path / "search"
    search_env = {**base, "BASE_DATA_DIR": "digits", "ROUNDS": "1", "LAM": "2", "SEARCH_EPOCHS": "1"}
    search_env |= {"SEED": "11", "OUT": str(out), "EXTRA_ARGS": QUICK}
    _bash("search.sh", ["", "search", str(best), "resnet20", "8"], search_env)
    args = json.loads((out / "args.json").read_text())
    assert (args["step"], args["lam"], args["search_epochs"], args["interval"], args["ratio"]) == (
        1,
        2,
        1,
        1,
        0.5,
    )
    with open(out / "search_log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [0]
    bits = to_proqha(read_bitconfig(out / "bitconfigs" / "round_0.json"))
    assert bits == [int(rows[0][f"kbits{i + 1}"]) for i in range(12)]
    assert sum(b == 7 for b in bits) == 6 and sum(b == 8 for b in bits) == 6  # ratio 0.5, interval 1
    assert (out / "checkpoint" / "0.pt").is_file() and (out / "bitconfig.json").is_file()
