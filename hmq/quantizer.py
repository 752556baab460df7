"""The uniform power-of-two-step quantizer under every HMQ block (specs/hmq.md section 3.1).

    Q(x; delta, q, s) = delta * clip(round(x / delta), lo, hi)
    faithful levels: lo = -(q - 1) * s, hi = q      (unsigned: 0 .. 2^b, signed: -(2^(b-1) - 1) .. 2^(b-1))
    strict levels:   lo = -q * s,       hi = q - 1  (unsigned: 0 .. 2^b - 1, signed: -2^(b-1) .. 2^(b-1) - 1)

``round`` is half-to-even (``torch.round``). ``delta`` and ``q`` broadcast against ``x`` (a scalar, one
value per input channel for weights or one per batch element for activations) and may be fractional
during the search.

Two backward rules exist. The default ("efficient") one is a custom autograd function: with
v = x / delta, k = round(v), inside = lo < k < hi, below = k <= lo, above = k >= hi,

    dy/dx     = inside
    dy/ddelta = inside * (k - v) + below * lo + above * hi
    dy/dq     = delta * (above - s * below)          (both summed over the broadcast axes)

so a value that rounds exactly onto a bound gets no x-gradient (quirk 14). The plain rule (round with a
straight-through estimator, then ``minimum``/``maximum``) differs only at such ties.
"""

from __future__ import annotations

import torch

__all__ = ["level_bounds", "quantize", "quantize_plain"]


def level_bounds(q: torch.Tensor, signed: float, strict: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer clipping bounds ``(lo, hi)`` for ``q`` positive levels (see the module docstring)."""
    if strict:
        return -q * signed, q - 1.0
    return -(q - 1.0) * signed, q


def _sum_to(t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum ``t`` over the axes along which a tensor of ``shape`` was broadcast to ``t.shape``."""
    lead = t.dim() - len(shape)
    if lead > 0:
        t = t.sum(dim=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and t.shape[i] != 1)
    if axes:
        t = t.sum(dim=axes, keepdim=True)
    return t.reshape(shape)


class _EfficientQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, delta, q, signed: float, strict: bool):  # type: ignore[override]
        v = x / delta
        k = torch.round(v)
        lo, hi = level_bounds(q, signed, strict)
        ctx.save_for_backward(v, delta, q)
        ctx.signed = signed
        ctx.strict = strict
        return delta * torch.maximum(torch.minimum(k, hi), lo)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        v, delta, q = ctx.saved_tensors
        signed = ctx.signed
        lo, hi = level_bounds(q, signed, ctx.strict)
        k = torch.round(v)
        above = (k >= hi).to(grad.dtype)
        below = (k <= lo).to(grad.dtype)
        inside = (k < hi).to(grad.dtype) * (k > lo).to(grad.dtype)
        grad_x = grad * inside
        grad_delta = grad_x * (k - v) + grad * below * lo + grad * above * hi
        grad_q = _sum_to(delta * grad * (above - signed * below), q.shape)
        return grad_x, _sum_to(grad_delta, delta.shape), grad_q, None, None


def quantize(
    x: torch.Tensor, delta: torch.Tensor, q: torch.Tensor, signed: float, strict: bool = False
) -> torch.Tensor:
    """``Q(x; delta, q, signed)`` with the efficient backward rule (the one the original uses)."""
    return _EfficientQuantize.apply(x, delta, q, float(signed), bool(strict))


def quantize_plain(
    x: torch.Tensor, delta: torch.Tensor, q: torch.Tensor, signed: float, strict: bool = False
) -> torch.Tensor:
    """``Q(x; delta, q, signed)`` through autograd: straight-through rounding, then ``minimum``/``maximum``."""
    v = x / delta
    k = v + (torch.round(v) - v).detach()
    lo, hi = level_bounds(q, float(signed), strict)
    return delta * torch.maximum(torch.minimum(k, hi), lo)
