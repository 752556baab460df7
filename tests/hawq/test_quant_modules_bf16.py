"""The quantized modules under bf16 autocast. quant_train under torchrun (two gloo processes on CPU) is checked in
tests/common/test_ddp_entrypoints.py (its weights against one process, its checkpoint files)."""

from __future__ import annotations

import torch

from hawq.utils.models import build_float_model, build_quantized_model
from hawq.utils.quant_config import QuantSettings, configure_quant_modules, uniform_module_bits


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
