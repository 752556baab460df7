"""HAQ's fused input quantizer and leaner weight path give the bits of the expressions differentiated by autograd.

The references are the linear quantizer written out as plain tensor expressions with a straight-through node (what
``QModule.quantize_input`` / ``quantize_weight`` were before the fused node): outputs, input gradients and the
range's gradient are compared bit for bit (sign of zero included), unsigned and signed, with grad mode on and off,
for an input that also feeds a residual, and for the float32 step against the float64 division it replaces.
"""

from __future__ import annotations

import pytest
import torch

from haq.lib.utils.linear_quant import QConv2d, _step


class _Through(torch.autograd.Function):
    @staticmethod
    def forward(ctx, source, quantized):  # type: ignore[override]
        return quantized.detach()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return grad, None


def _reference_input(x: torch.Tensor, r: torch.Tensor, k: int, half_wave: bool) -> torch.Tensor:
    if half_wave:
        clipped = 0.5 * (x.abs() - (x - r).abs() + r)
    else:
        clipped = 0.5 * ((-x - r).abs() - (x - r).abs())
    step = (r.detach().double() / (2.0**k - 1.0)).float().reshape(())
    return _Through.apply(clipped, clipped.detach().div(step).round().mul(step))


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous().view(torch.int32)


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(_bits(a), _bits(b))


@pytest.mark.parametrize("half_wave", [True, False])
@pytest.mark.parametrize("a_bit", [2, 4, 8])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("rng", [6.0, 0.7])
def test_input_quantizer_is_bit_identical(half_wave, a_bit, residual, rng) -> None:
    gen = torch.Generator().manual_seed(a_bit * 10 + int(half_wave) + 2 * int(residual))
    leaf0 = torch.randn(3, 4, 6, 6, generator=gen) * 4
    leaf0.view(-1)[:6] = torch.tensor([0.0, -0.0, rng, -rng, rng / 2, 3 * rng])
    upstream = torch.randn(3, 4, 6, 6, generator=gen)
    results = []
    for fused in (True, False):
        layer = QConv2d(4, 4, 3, padding=1, w_bit=-1, a_bit=a_bit, half_wave=half_wave)
        with torch.no_grad():
            layer.activation_range.fill_(rng)
        leaf = leaf0.clone().requires_grad_()
        x = leaf * 1.0 if residual else leaf
        k = a_bit if half_wave else a_bit - 1
        y = layer.quantize_input(x) if fused else _reference_input(x, layer.activation_range, k, half_wave)
        if residual:
            y = y * 0.25 + x
        y.backward(upstream)
        with torch.no_grad():
            r = layer.activation_range
            y_eval = layer.quantize_input(leaf0) if fused else _reference_input(leaf0, r, k, half_wave)
        results.append([y, leaf.grad, layer.activation_range.grad, y_eval])
    assert all(_same(a, b) for a, b in zip(*results, strict=True))


@pytest.mark.parametrize("w_bit", [2, 4, 8])
def test_weight_path_is_bit_identical(w_bit) -> None:
    gen = torch.Generator().manual_seed(w_bit)
    layer = QConv2d(4, 6, 3, padding=1, w_bit=w_bit)
    w0 = torch.randn(6, 4, 3, 3, generator=gen) * 0.2
    w = w0.clone().requires_grad_()
    out = layer.quantize_weight(w)  # range unset: becomes max|W|
    assert layer.weight_range.item() == w0.abs().max().item()
    c = w0.abs().max()
    step = (c.double() / (2.0 ** (w_bit - 1) - 1.0)).float()
    assert _same(out, w0.clamp(-c, c).div(step).round().mul(step))
    out.backward(torch.ones_like(out))
    assert torch.equal(w.grad, torch.ones_like(w0))


def test_float32_step_equals_the_rounded_float64_quotient() -> None:
    gen = torch.Generator().manual_seed(0)
    clips = torch.cat([torch.rand(3000, generator=gen) * 10, torch.rand(3000, generator=gen) * 1e-3])
    for k in range(1, 17):
        levels = 2.0**k - 1.0
        for c in clips[:: 7 if k > 2 else 1]:
            assert torch.equal(_bits(_step(c.reshape(1), levels)), _bits((c.double() / levels).float()))
