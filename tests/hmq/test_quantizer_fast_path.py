"""hmq.quantizer's in-place fast path gives the same bits as the rule written out term by term.

The reference below is the efficient rule evaluated one formula at a time (bool masks cast to the gradient dtype,
every product and sum a fresh tensor), as the quantizer was before the fast path; outputs and gradients are
compared bit for bit (sign of zero included), on ties, on values far outside the range, with fractional and
degenerate bounds (lo >= hi), for the soft case (delta and q with gradients), the hard case (x only) and no grad.
"""

from __future__ import annotations

import pytest
import torch

from hmq.quantizer import _sum_to, level_bounds, quantize


class _TermByTerm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, delta, q, signed, strict):  # type: ignore[override]
        v = x / delta
        lo, hi = level_bounds(q, signed, strict)
        ctx.save_for_backward(v, delta, q)
        ctx.signed, ctx.strict = signed, strict
        return delta * torch.maximum(torch.minimum(torch.round(v), hi), lo)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        v, delta, q = ctx.saved_tensors
        lo, hi = level_bounds(q, ctx.signed, ctx.strict)
        k = torch.round(v)
        above = (k >= hi).to(grad.dtype)
        below = (k <= lo).to(grad.dtype)
        inside = (k < hi).to(grad.dtype) * (k > lo).to(grad.dtype)
        grad_x = grad * inside
        grad_delta = grad_x * (k - v) + grad * below * lo + grad * above * hi
        grad_q = delta * grad * (above - ctx.signed * below)
        return grad_x, _sum_to(grad_delta, delta.shape), _sum_to(grad_q, q.shape), None, None


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous().view({torch.float32: torch.int32, torch.float64: torch.int64}[t.dtype])


def _case(
    kind: str, dtype: torch.dtype, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if kind == "weight":  # one delta and q per input channel, fractional (the search)
        x = torch.randn(8, 6, 3, 3, generator=gen, dtype=dtype) * 0.3
        delta = torch.rand(1, 6, 1, 1, generator=gen, dtype=dtype) * 0.05 + 0.01
        q = torch.rand(1, 6, 1, 1, generator=gen, dtype=dtype) * 6 + 0.2  # some q < 1/2: lo >= hi
    elif kind == "activation":  # one per batch element
        x = torch.randn(5, 4, 6, 6, generator=gen, dtype=dtype) * 3
        delta = torch.rand(5, 1, 1, 1, generator=gen, dtype=dtype) * 0.5 + 0.1
        q = torch.rand(5, 1, 1, 1, generator=gen, dtype=dtype) * 10 + 0.3
    else:  # the hard path: one power-of-two delta and integer q
        x = torch.randn(7, 9, generator=gen, dtype=dtype) * 2
        delta, q = torch.tensor([0.125], dtype=dtype), torch.tensor([4.0], dtype=dtype)
    flat = x.flatten()
    flat[:12] = (torch.arange(-6, 6, dtype=dtype) + 0.5) * delta.flatten()[0]  # ties and exact bounds
    flat[12:16] = torch.tensor([1e3, -1e3, 0.0, -0.0], dtype=dtype)
    return flat.reshape(x.shape), delta, q


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["weight", "activation", "hard"])
@pytest.mark.parametrize("signed", [0.0, 1.0])
@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("grads", ["all", "x_only", "delta_q_only"])
def test_fast_path_is_bit_identical(dtype, kind, signed, strict, grads) -> None:
    gen = torch.Generator().manual_seed(len(kind) * 100 + int(signed) * 10 + int(strict) + 3 * len(grads))
    x0, d0, q0 = _case(kind, dtype, gen)
    upstream = torch.randn(x0.shape, generator=gen, dtype=dtype)
    results = []
    for fn in (quantize, _TermByTerm.apply):
        x, d, q = x0.clone(), d0.clone(), q0.clone()
        x.requires_grad_(grads != "delta_q_only")
        d.requires_grad_(grads != "x_only")
        q.requires_grad_(grads != "x_only")
        y = fn(x, d, q, signed, strict)
        y.backward(upstream)
        results.append([y] + [t.grad for t in (x, d, q) if t.requires_grad])
    for new, ref in zip(*results, strict=True):
        assert new.dtype == ref.dtype and new.shape == ref.shape
        assert torch.equal(_bits(new), _bits(ref))


def test_no_grad_forward_is_bit_identical() -> None:
    gen = torch.Generator().manual_seed(3)
    for kind in ("weight", "activation", "hard"):
        x, d, q = _case(kind, torch.float32, gen)
        with torch.no_grad():
            y = quantize(x.requires_grad_(), d, q, 1.0)
        assert torch.equal(_bits(y), _bits(_TermByTerm.apply(x.detach(), d, q, 1.0, False)))


def test_mixed_dtypes_take_the_term_by_term_path() -> None:
    gen = torch.Generator().manual_seed(4)
    x, d, q = _case("activation", torch.float32, gen)
    out = []
    for fn in (quantize, _TermByTerm.apply):
        xx, dd, qq = x.clone().requires_grad_(), d.clone().requires_grad_(), q.double().requires_grad_()
        y = fn(xx, dd, qq, 1.0, False)
        y.backward(torch.ones_like(y))
        out.append([y, xx.grad, dd.grad, qq.grad])
    for new, ref in zip(*out, strict=True):
        assert new.dtype == ref.dtype and torch.equal(_bits(new), _bits(ref))
