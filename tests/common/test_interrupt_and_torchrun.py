"""Ctrl-C in a real training loop, and user errors under a two-process torchrun (gloo, CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from common.runtime import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 180


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _default_sigint() -> None:
    """In the child before exec: SIGINT at its default action. A job started in the background by a shell without
    job control (``cmd &`` in a script, nohup) inherits SIGINT ignored, and Python then installs no Ctrl-C handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"did not finish within {TIMEOUT_S} s:\n{out[-2000:]}\n{err[-2000:]}")


@pytest.mark.slow
def test_sigint_in_the_training_loop_exits_130_with_the_resume_hint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "reproduce.baseline_digits",
        "--epochs",
        "200",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_default_sigint)  # fmt: skip
    ckpt = out / "checkpoint.pth.tar"
    deadline = time.monotonic() + TIMEOUT_S
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ckpt.exists(), "no checkpoint was written"
    time.sleep(0.3)  # well inside the next epoch
    proc.send_signal(signal.SIGINT)
    _, err = _finish(proc)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err and lines[-1] == f"interrupted; resume with --resume {ckpt}"
    saved = load_checkpoint(ckpt)  # intact
    assert saved["epoch"] >= 1 and all(torch.isfinite(v).all() for v in saved["state_dict"].values())
    assert not list(out.glob(".*.tmp")) and not (out / "final.json").exists()


def _torchrun(args: list[str]) -> tuple[int, str]:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes=1",
        "--nproc_per_node=2",
        *args,
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    out, _ = _finish(proc)
    return proc.returncode, out


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not available")
def test_torchrun_bad_data_folder_is_one_line_from_rank_0(tmp_path: Path) -> None:
    """Every rank meets the error before any collective; rank 0 alone reports it and the others stay quiet.

    torchrun itself still prints its ChildFailedError summary (with exit code 2 as the root cause) after
    the workers' line: that report belongs to the launcher and cannot be switched off from a worker.
    """
    missing = tmp_path / "no_such_data"
    code, out = _torchrun(["-m", "hawq.quant_train", "-a", "tiny_resnet", "--data", str(missing), "--epochs", "1",
                           "-b", "64", "-j", "0", "--device", "cpu", "--quant-scheme", "uniform8",
                           "--save-path", f"{tmp_path}/run/"])  # fmt: skip
    errors = [line for line in out.splitlines() if line.startswith(("error:", "[rank"))]
    assert code != 0 and errors == [f"error: data folder not found: {missing}"], out[-4000:]
    assert "exitcode  : 2" in out and "hawq/quant_train.py" not in out  # no worker traceback
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not available")
def test_torchrun_nan_loss_ends_every_rank_at_the_same_check(tmp_path: Path) -> None:
    """The guard's all-reduce makes both ranks raise together: one line, no rank left waiting in a collective."""
    code, out = _torchrun(["-m", "reproduce.baseline_digits", "--epochs", "2", "--lr", "1e10", "--device", "cpu",
                           "--out", str(tmp_path / "run")])  # fmt: skip
    errors = [line for line in out.splitlines() if line.startswith(("error:", "[rank"))]
    assert code != 0 and len(errors) == 1, errors
    assert errors[0].startswith("error: non-finite loss at epoch 0 step"), errors
    assert "exitcode  : 2" in out and "Timeout" not in out
    assert not (tmp_path / "run" / "checkpoint.pth.tar").exists()
