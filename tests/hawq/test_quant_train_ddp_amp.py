"""quant_train under torchrun (two gloo processes on CPU) and the quantized modules under bf16 autocast."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common.runtime import load_checkpoint
from hawq.utils.models import build_float_model, build_quantized_model
from hawq.utils.quant_config import QuantSettings, configure_quant_modules, uniform_module_bits

REPO = Path(__file__).resolve().parents[2]


def test_quantized_model_output_is_float32_and_unchanged_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    model = build_quantized_model("tiny_resnet", build_float_model("tiny_resnet", 10), input_size=32)
    configure_quant_modules(
        model, uniform_module_bits(model, 8), QuantSettings(act_range_momentum=0.99, fix_BN=True)
    )
    model.eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        model(x)
        for m in model.modules():
            if hasattr(m, "fix"):
                m.fix()
        plain = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model(x)
    assert mixed.dtype == torch.float32
    assert torch.equal(plain, mixed)


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path) -> None:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2",
           "-m", "hawq.quant_train", "-a", "tiny_resnet", "--data", "digits", "--epochs", "1", "-b", "64",
           "--data-percentage", "0.2", "--lr", "0.001", "--act-range-momentum", "0.99", "--fix-BN", "--seed", "0",
           "-j", "0", "--quant-scheme", "uniform8", "--device", "cpu", "--save-path", f"{tmp_path}/"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0, out[-3000:]
    ckpt = load_checkpoint(tmp_path / "checkpoint.pth.tar")
    assert ckpt["epoch"] == 1 and not any(k.startswith("module.") for k in ckpt["state_dict"])
    assert (tmp_path / "quantized_checkpoint.pth.tar").is_file()
