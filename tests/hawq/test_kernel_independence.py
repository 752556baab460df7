"""``--round-folded-input`` and ``--float64-bn-stats``: integer outputs that no CPU kernel can change.

The original divides a conv's input by its scale and convolves the quotient as it is (quirk 21): the float32
residue of that division makes the conv's sums depend on the order in which the kernel adds them, so oneDNN
and PyTorch's own kernels give accumulators that differ in the last bits. With the input rounded to the integer it
stands for, the sums are exact and both kernels agree bit for bit.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from hawq.utils.models import build_quantized_model
from hawq.utils.quant_config import QuantSettings, configure_quant_modules, freeze_model, uniform_module_bits
from hawq.utils.quantization_utils.quant_modules import QuantAct, QuantBnConv2d, QuantConv2d, QuantLinear


def _calibrated(bits: int, round_input: bool) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = build_quantized_model("resnet18", torchvision.models.resnet18(num_classes=10), input_size=32)
    settings = QuantSettings(act_range_momentum=0.99, fix_BN=True, round_folded_input=round_input)
    configure_quant_modules(model, uniform_module_bits(model, bits), settings)
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        model.eval()(x)  # one batch of range tracking, then frozen
    freeze_model(model)
    return model, x


def _conv_accumulators(model: nn.Module, x: torch.Tensor, onednn: bool) -> list[torch.Tensor]:
    """Every QuantBnConv2d output divided by its output scale (``s_w · s_in``), plus the logits."""
    seen: list[torch.Tensor] = []

    def grab(module: nn.Module, inputs: tuple, output: tuple) -> None:
        seen.append(output[0].detach().clone())

    hooks = [
        m.register_forward_hook(grab) for m in model.modules() if isinstance(m, (QuantBnConv2d, QuantAct))
    ]
    try:
        with torch.no_grad(), torch.backends.mkldnn.flags(enabled=onednn):
            seen.append(model(x))
    finally:
        for h in hooks:
            h.remove()
    return seen


@pytest.mark.parametrize("bits", [4, 8])
def test_rounded_input_is_identical_with_and_without_onednn(bits: int) -> None:
    model, x = _calibrated(bits, round_input=True)
    with_onednn = _conv_accumulators(model, x, onednn=True)
    without = _conv_accumulators(model, x, onednn=False)
    assert len(with_onednn) == len(without) > 20
    for a, b in zip(with_onednn, without, strict=True):
        assert torch.equal(a, b)


def test_original_input_leaves_kernel_dependent_residue() -> None:
    """The faithful default, i.e. what the flag is for: the two kernels' sums differ, by float noise only."""
    model, x = _calibrated(4, round_input=False)
    with_onednn = _conv_accumulators(model, x, onednn=True)
    without = _conv_accumulators(model, x, onednn=False)
    differing = [(a, b) for a, b in zip(with_onednn, without, strict=True) if not torch.equal(a, b)]
    if not differing:
        pytest.skip("on this build both kernels happen to add in the same order")
    for a, b in differing:
        assert ((a - b).abs().max() / a.abs().max()).item() < 1e-5


def test_rounded_input_keeps_gradients_and_integers_near_the_original() -> None:
    """Rounding is straight-through: the gradient of the input is the original's, and the folded conv's
    accumulator moves by less than one integer step."""
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
    bn.eval()
    modules = []
    for round_input in (False, True):
        q = QuantBnConv2d(8, 32, per_channel=True, fix_BN=True)
        q.set_param(conv, bn)
        q.round_input = round_input
        modules.append(q)
    s_in = torch.tensor([0.05])
    x = (torch.randint(-127, 128, (2, 3, 6, 6)).float() * s_in).requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    out_a, s_a = modules[0](x, s_in)
    out_b, s_b = modules[1](x2, s_in)
    lsb = (s_a * s_in).view(1, -1, 1, 1)
    assert torch.equal(torch.round(out_b / lsb), torch.round(out_a / lsb))
    g = torch.randn_like(out_a)
    out_a.backward(g)
    out_b.backward(g)
    torch.testing.assert_close(x2.grad, x.grad, rtol=1e-6, atol=1e-6)


def test_linear_and_plain_conv_take_the_flag() -> None:
    model, _ = _calibrated(8, round_input=True)
    flagged = [
        m.round_input for m in model.modules() if isinstance(m, (QuantConv2d, QuantLinear, QuantBnConv2d))
    ]
    assert flagged and all(flagged)


def test_float64_bn_stats_do_not_depend_on_the_reduction_order() -> None:
    """Training-BN mode: with float64 statistics, permuting the batch (another summation order) leaves the
    running mean and variance bit for bit the same, and they agree with the float32 ones to float32 rounding."""
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
    x = torch.randn(16, 3, 16, 16) * 3 + 1
    s_in = torch.tensor([0.05])
    stats = {}
    for float64_stats in (True, False):
        for order in ("as is", "permuted"):
            q = QuantBnConv2d(8, 32, per_channel=True, fix_BN=False)
            q.set_param(conv, bn)
            q.float64_bn_stats = float64_stats
            batch = (
                x if order == "as is" else x[torch.randperm(16, generator=torch.Generator().manual_seed(1))]
            )
            q(batch, s_in)
            stats[float64_stats, order] = (q.bn.running_mean.clone(), q.bn.running_var.clone())
    for a, b in zip(stats[True, "as is"], stats[True, "permuted"], strict=True):
        assert torch.equal(a, b)
    for a, b in zip(stats[True, "as is"], stats[False, "as is"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
