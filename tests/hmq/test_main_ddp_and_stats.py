"""``python -m hmq.main`` under a two-process torchrun (gloo, CPU), and ``--stats_batches``."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from common.bitconfig import read_bitconfig
from common.data.embedded import digits_split
from hmq.block import HmqControl
from hmq.main import main
from hmq.train import statistics_pass

REPO = Path(__file__).resolve().parents[2]
FAST = ["--dataset", "digits", "--data_dir", "digits", "--network_name", "tiny_resnet", "--image_size", "8"]
FAST += ["--batch_size", "96", "--num_workers", "0", "--cycle_size", "1", "--n_target_steps", "1"]
FAST += ["--target_compression", "8", "--gamma", "64", "--device", "cpu"]
TIMEOUT_S = 180


def _stats_batches_logged(out: Path) -> int:
    found = re.findall(r"statistics pass over (\d+) batches", (out / "log.txt").read_text())
    assert len(found) == 1
    return int(found[0])


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not available")
def test_two_process_torchrun_finishes_and_writes_its_outputs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2",
           "-m", "hmq.main", *FAST, "--n_epochs", "1", "--n_epochs_final", "1", "--stats_batches", "2",
           "--out", str(out)]  # fmt: skip
    # Own process group, so a hang kills torchrun and both workers, not just torchrun.
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        stdout, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish within {TIMEOUT_S} s:\n{stdout[-4000:]}")
    assert proc.returncode == 0, stdout[-4000:]

    args = json.loads((out / "args.json").read_text())
    assert args["stats_batches"] == 2
    rows = list(csv.DictReader((out / "epochs.csv").open()))
    assert [r["stage"] for r in rows] == ["init", "search", "final"]  # one writer: rank 0 only
    final = json.loads((out / "final.json").read_text())
    assert final["wcr"] >= 1.0 and Path(final["bitconfig"]) == out / "bitconfig.json"
    cfg = read_bitconfig(out / "bitconfig.json")
    assert cfg.method == "hmq" and cfg.arch == "tiny_resnet" and cfg.layers
    for name in ("last.pt", "final_last.pt", "resume.pt"):
        state = torch.load(out / name, weights_only=True)
        assert state
    assert not any(k.startswith("module.") for k in torch.load(out / "final_last.pt", weights_only=True))
    # Each rank sees half of the data, so at most 2 of its own batches go into the statistics.
    assert _stats_batches_logged(out) == 2


def test_stats_batches_limits_the_statistics_pass(tmp_path: Path) -> None:
    seen: dict[int | None, int] = {}
    for limit in (1, 3, None):
        out = tmp_path / f"run_{limit}"
        argv = [*FAST, "--n_epochs", "0", "--n_epochs_final", "0", "--out", str(out)]
        argv += [] if limit is None else ["--stats_batches", str(limit)]
        assert main(argv) == 0
        seen[limit] = _stats_batches_logged(out)
    n_train_batches = -(-len(digits_split()[0]) // 96)  # the whole digits train split at batch 96
    assert seen[1] == 1 and seen[3] == 3
    assert seen[None] == n_train_batches


class _Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.lin = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.lin(x)


@pytest.mark.parametrize(("limit", "expected"), [(None, 5), (2, 2), (0, 0), (9, 5)])
def test_statistics_pass_runs_at_most_max_batches(limit, expected) -> None:
    model, control = _Counting(), HmqControl()
    pulled = []

    def loader():
        for i in range(5):
            pulled.append(i)
            yield torch.randn(3, 4), torch.zeros(3, dtype=torch.long)

    seen = statistics_pass(model, loader(), control, torch.device("cpu"), limit)
    assert seen == expected == model.calls
    assert not control.statistics and not model.training
