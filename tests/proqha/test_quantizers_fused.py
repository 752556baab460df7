"""The fused PACT and DoReFa weight nodes give the bits autograd gives through the expressions written out.

The references are the quantizers' formulas as plain tensor expressions differentiated by autograd (what
``PACT.forward`` and ``WeightQuantizer.forward`` were before the fused nodes); outputs, input gradients and the
clip's gradient are compared bit for bit (sign of zero included), with grad mode on and off, on values at 0, at
alpha and beyond it, on ties at the weight maximum, for float32 and float64.
"""

from __future__ import annotations

import pytest
import torch

from proqha.quantizers import PACT, WeightQuantizer, round_ste


def _pact_reference(x: torch.Tensor, a: torch.Tensor, bits: int) -> torch.Tensor:
    x = x.float()
    clipped = 0.5 * (x.abs() - (x - a).abs() + a)
    n = 2**bits - 1
    return round_ste(clipped * n / a) * a / n


def _dorefa_reference(w: torch.Tensor, bits: int) -> torch.Tensor:
    t = torch.tanh(w)
    u = t / 2 / t.abs().max() + 0.5
    n = float(2**bits - 1)
    return 2 * (round_ste(u * n) / n) - 1


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous().view({torch.float32: torch.int32, torch.float64: torch.int64}[t.dtype])


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(_bits(a), _bits(b))


# float64: alpha only (PACT casts x to float32)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("alpha", [10.0, 2.5, 0.3])
@pytest.mark.parametrize("shape", [(6, 5, 7, 7), (9, 11), (13,)])
@pytest.mark.parametrize("needs", ["both", "x", "alpha"])
def test_pact_is_bit_identical(dtype, bits, alpha, shape, needs) -> None:
    gen = torch.Generator().manual_seed(bits * 7 + len(shape))
    x0 = (torch.randn(shape, generator=gen) * alpha).to(dtype)
    x0.view(-1)[:6] = torch.tensor([0.0, -0.0, alpha, -alpha, alpha / 2, 3 * alpha], dtype=dtype)
    upstream = torch.randn(shape, generator=gen).to(dtype)
    got, want = [], []
    for out, fn in ((got, None), (want, _pact_reference)):
        pact = PACT(bits, alpha=alpha).to(dtype)
        pact.alpha.requires_grad_(needs != "x")
        x = x0.clone().requires_grad_(needs != "alpha")
        y = pact(x) if fn is None else fn(x, pact.alpha, bits)
        y.backward(upstream)
        with torch.no_grad():
            y_eval = pact(x0) if fn is None else fn(x0, pact.alpha, bits)
        out += [y, x.grad, pact.alpha.grad, y_eval]
    assert all(_same(a, b) for a, b in zip(got, want, strict=True))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bits", [2, 4, 8, 16])
@pytest.mark.parametrize("scale", [0.05, 1.0, 4.0])
@pytest.mark.parametrize("shape", [(8, 4, 3, 3), (10, 16), (7,)])
def test_dorefa_weight_is_bit_identical(dtype, bits, scale, shape) -> None:
    gen = torch.Generator().manual_seed(bits + len(shape))
    w0 = (torch.randn(shape, generator=gen) * scale).to(dtype)
    flat = w0.view(-1)
    flat[:3] = flat.abs().max()  # three entries share the maximum
    flat[3] = -flat[0]
    flat[4:6] = torch.tensor([0.0, -0.0], dtype=dtype)
    upstream = torch.randn(shape, generator=gen).to(dtype)
    got, want = [], []
    for out, fn in ((got, None), (want, _dorefa_reference)):
        w = w0.clone().requires_grad_()
        y = WeightQuantizer(bits)(w) if fn is None else fn(w, bits)
        y.backward(upstream)
        with torch.no_grad():
            y_eval = WeightQuantizer(bits)(w0) if fn is None else fn(w0, bits)
        out += [y, w.grad, y_eval]
    assert all(_same(a, b) for a, b in zip(got, want, strict=True))


def test_pact_gradient_accumulates_over_two_uses() -> None:
    """Two calls of one PACT in a step add their clip gradients as autograd did (one AccumulateGrad per call)."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 3, 5, 5, generator=gen) * 6
    grads = []
    for fused in (True, False):
        pact = PACT(4)
        y = (
            pact(x) + pact(x * 0.5)
            if fused
            else _pact_reference(x, pact.alpha, 4) + _pact_reference(x * 0.5, pact.alpha, 4)
        )
        y.sum().backward()
        grads.append(pact.alpha.grad)
    assert _same(*grads)


def test_pact_input_that_also_feeds_a_residual_accumulates_as_unfused() -> None:
    """``x`` reaches its producer as two gradient terms, in autograd's order, after the residual's own term."""
    gen = torch.Generator().manual_seed(6)
    leaf0 = torch.randn(4, 3, 5, 5, generator=gen) * 6
    upstream = torch.randn(4, 3, 5, 5, generator=gen)
    grads = []
    for fused in (True, False):
        leaf = leaf0.clone().requires_grad_()
        x = leaf * 1.5
        pact = PACT(4)
        y = (pact(x) if fused else _pact_reference(x, pact.alpha, 4)) * 0.3 + x
        y.backward(upstream)
        grads += [leaf.grad, pact.alpha.grad]
    assert _same(grads[0], grads[2]) and _same(grads[1], grads[3])
