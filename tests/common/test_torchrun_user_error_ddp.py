"""A user error under ``torchrun`` in an entrypoint that joins the process group (HAQ's pretrain): rank 0's one
line is the only line of ours, every worker exits without a traceback, and the launcher reports exit code 2.

torchrun adds its own ChildFailedError summary after our line for any non-zero exit of a worker: that report
belongs to the launcher (``torch/distributed/run.py``) and cannot be switched off from a worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not available")
def test_torchrun_bad_data_folder_in_a_ddp_entrypoint_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_data"
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2",
           "-m", "haq.pretrain", "-a", "tiny_resnet", "-d", str(missing), "--data_name", "imagenet10", "-j", "0",
           "--manualSeed", "1", "--epochs", "1", "--device", "cpu", "-c", str(tmp_path / "run")]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish:\n{out[-4000:]}")
    ours = [line for line in out.splitlines() if line.startswith(("error:", "[rank"))]
    assert proc.returncode != 0 and len(ours) == 1, out[-4000:]
    assert ours[0].startswith("error: ") and str(missing) in ours[0], ours
    assert "exitcode  : 2" in out, out[-4000:]
    assert f"{REPO}/haq" not in out and f"{REPO}/common" not in out  # no traceback through our code
