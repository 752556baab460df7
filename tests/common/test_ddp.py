"""Two-process torchrun (gloo) check of the distributed path in common.runtime."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from common.runtime import load_checkpoint

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WORKER = HERE / "ddp_step_worker.py"
TIMEOUT_S = 120


def _load_worker():
    spec = importlib.util.spec_from_file_location("ddp_step_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _run_torchrun(out: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes=1",
        "--nproc_per_node=2",
        str(WORKER),
        str(out),
    ]
    # Own process group, so a hang kills torchrun and both workers, not just torchrun.
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish within {TIMEOUT_S} s:\n{stdout[-4000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, "")


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not available")
def test_one_ddp_step_matches_one_process_on_the_global_batch(tmp_path: Path) -> None:
    out = tmp_path / "ddp_step.pth.tar"
    result = _run_torchrun(out)
    assert result.returncode == 0, result.stdout[-4000:]
    saved = load_checkpoint(out)  # weights_only=True

    worker = _load_worker()
    model, images, labels = worker.build()
    optimizer = worker.make_optimizer(model)
    loss = nn.functional.cross_entropy(model(images), labels)  # mean over the global batch of 8
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

    expected = model.state_dict()
    assert set(saved["state_dict"]) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(saved["state_dict"][key], value, atol=1e-6, rtol=0, msg=key)
    # Mean of the two half-batch losses equals the global mean loss (equal halves).
    torch.testing.assert_close(saved["mean_loss"], loss.detach(), atol=1e-6, rtol=0)
    assert saved["meter_count"] == worker.GLOBAL_BATCH
    assert saved["meter_avg"] == pytest.approx(loss.item(), abs=1e-6)
