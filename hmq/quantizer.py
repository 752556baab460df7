"""The uniform power-of-two-step quantizer under every HMQ block (docs/hmq.md section 3.1).

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
    """The efficient rule, evaluated with the same floating-point operations in the same order as the formulas in
    the module docstring (outputs and gradients are bit-identical to the term-by-term version,
    :func:`_reference_backward`), with fewer full-size passes and buffers:

    * the 0/1 masks are written as floats by the comparison itself (``torch.lt(k, hi, out=float_buffer)``); a
      bool mask and its cast cost several float passes each on the CPU;
    * products and sums are formed in place in buffers this function owns (a product commutes bit for bit);
    * only what is needed is kept: when ``x`` alone wants a gradient (the hard path: its delta and q are constants)
      the forward pass keeps the x mask and nothing else, and the delta and q rules are skipped; with grad mode
      off nothing is kept and the forward pass works in one buffer.

    Mixed dtypes or shapes (a ``q`` broadcasting beyond ``x / delta``) take the term-by-term path.
    """

    @staticmethod
    def forward(ctx, x, delta, q, signed: float, strict: bool, grad_mode: bool):  # type: ignore[override]
        lo, hi = level_bounds(q, signed, strict)
        ctx.signed = signed
        ctx.strict = strict
        v = x / delta
        same = v.dtype == lo.dtype and torch.broadcast_shapes(v.shape, lo.shape) == v.shape
        need_x, need_delta, need_q = (grad_mode and n for n in ctx.needs_input_grad[:3])
        ctx.x_only = same and not (need_delta or need_q)
        if not same:
            ctx.save_for_backward(v, delta, q)
            return delta * torch.maximum(torch.minimum(torch.round(v), hi), lo)
        if need_delta or need_q:
            ctx.save_for_backward(v, delta, q)
            k = torch.round(v)
        else:
            k = v.round_()  # v itself is not needed again
            if need_x:  # only x wants a gradient: keep inside = (k < hi) * (k > lo) alone
                inside = torch.lt(k, hi, out=torch.empty_like(k))
                inside.mul_(torch.gt(k, lo, out=torch.empty_like(k)))
                ctx.save_for_backward(inside)
        torch.minimum(k, hi, out=k)
        torch.maximum(k, lo, out=k)
        return k.mul_(delta)  # k * delta == delta * k bit for bit

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        if ctx.x_only:  # grad * inside
            (inside,) = ctx.saved_tensors
            return grad * inside, None, None, None, None, None
        v, delta, q = ctx.saved_tensors
        signed = ctx.signed
        lo, hi = level_bounds(q, signed, ctx.strict)
        need_x, need_delta, need_q = ctx.needs_input_grad[:3]
        if not (v.dtype == grad.dtype == lo.dtype and v.shape == grad.shape):
            return (*_reference_backward(grad, v, delta, q, signed, lo, hi), None)
        k = torch.round(v)
        # inside = (k < hi) * (k > lo) as 0/1 floats, then grad_x = grad * inside (in place: the product commutes)
        grad_x = torch.lt(k, hi, out=torch.empty_like(grad))
        scratch = torch.gt(k, lo, out=torch.empty_like(grad))
        grad_x.mul_(scratch).mul_(grad)
        above = torch.ge(k, hi, out=torch.empty_like(grad))
        below = torch.le(k, lo, out=scratch)
        grad_q = None
        if need_q:  # delta * grad * (above - signed * below)
            if signed == 0.0:
                levels = above  # above - 0 * below == above bit for bit
            elif signed == 1.0:
                levels = above - below
            else:
                levels = above - signed * below
            grad_q = _sum_to(torch.mul(delta, grad).mul_(levels), q.shape)
        grad_delta = None
        if need_delta:  # (grad_x * (k - v) + grad * below * lo) + grad * above * hi
            grad_delta = k.sub_(v).mul_(grad_x)
            grad_delta.add_(below.mul_(grad).mul_(lo)).add_(above.mul_(grad).mul_(hi))
            grad_delta = _sum_to(grad_delta, delta.shape)
        return (grad_x if need_x else None), grad_delta, grad_q, None, None, None


def _reference_backward(grad, v, delta, q, signed, lo, hi):
    """The efficient rule written out term by term (used when the dtypes or shapes are mixed)."""
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
    return _EfficientQuantize.apply(x, delta, q, float(signed), bool(strict), torch.is_grad_enabled())


def quantize_plain(
    x: torch.Tensor, delta: torch.Tensor, q: torch.Tensor, signed: float, strict: bool = False
) -> torch.Tensor:
    """``Q(x; delta, q, signed)`` through autograd: straight-through rounding, then ``minimum``/``maximum``."""
    v = x / delta
    k = v + (torch.round(v) - v).detach()
    lo, hi = level_bounds(q, float(signed), strict)
    return delta * torch.maximum(torch.minimum(k, hi), lo)
