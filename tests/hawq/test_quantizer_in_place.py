"""The one-pass quantizer (``_quantize_clamped``) against the four-pass form it replaced (benchmarks/README.md, HAWQ).

``SymmetricQuantFunction`` / ``AsymmetricQuantFunction`` used ``clamp(round((1 / s) · x + 0), lo, hi)`` with a fresh
tensor per step; they now multiply once and round and clamp in place. The integers (and the STE gradient) must be
the same for any input: random weights with per-channel and per-tensor scales, exact ties ``(k + ½) · s`` that
round half to even, values far outside the clamp range, and zeros of either sign.
"""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hawq.utils.quantization_utils.quant_utils import (
    AsymmetricQuantFunction,
    SymmetricQuantFunction,
    linear_quantize,
)


def _four_pass(x: torch.Tensor, scale: torch.Tensor, low: int, high: int) -> torch.Tensor:
    return torch.clamp(linear_quantize(x, scale, 0.0), low, high)


def _inputs(seed: int, channels: int, per_channel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(channels, 3, 3, 3, generator=g) * torch.rand(channels, 1, 1, 1, generator=g) * 4
    scale = torch.rand(channels if per_channel else 1, generator=g) * 0.2 + 1e-3
    if not per_channel:
        scale = scale.reshape(())
    view = scale.reshape(-1, 1, 1, 1) if per_channel else scale
    ties = (
        torch.randint(-300, 300, x.shape, generator=g) + 0.5
    ) * view  # (k + 1/2)·s, many outside the range
    x = torch.where(torch.rand(x.shape, generator=g) < 0.3, ties, x)
    x.view(-1)[:4] = torch.tensor([0.0, -0.0, 1e30, -1e30])
    return x, scale


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    channels=st.integers(1, 17),
    per_channel=st.booleans(),
    bits=st.sampled_from([2, 3, 4, 8, 16, 32]),
)
def test_one_pass_quantizers_equal_the_four_pass_form(
    seed: int, channels: int, per_channel: bool, bits: int
) -> None:
    x, scale = _inputs(seed, channels, per_channel)
    for fn, low, high in (
        (SymmetricQuantFunction, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1),
        (AsymmetricQuantFunction, 0, 2**bits - 1),
    ):
        leaf = x.clone().requires_grad_(True)
        q = fn.apply(leaf, bits, scale)
        expected = _four_pass(x, scale, low, high)
        assert torch.equal(q, expected), (fn.__name__, bits)
        if bits <= 16:  # 2^31 - 1 is not a float32: at 32 bits the clamp bound itself rounds to 2^31
            assert float(q.min()) >= low and float(q.max()) <= high
        upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed + 1))
        q.backward(upstream)
        view = scale.reshape(-1, 1, 1, 1) if per_channel else scale
        assert torch.equal(leaf.grad, upstream / view)


def test_one_pass_quantizer_leaves_its_input_alone() -> None:
    x, scale = _inputs(0, 8, True)
    before = x.clone()
    SymmetricQuantFunction.apply(x, 4, scale)
    assert torch.equal(x, before)
