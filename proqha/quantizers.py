"""DoReFa weight and PACT activation quantizers of ProQHA (docs/proqha.md section 3.1).

* ``Q_k(u) = round(u * n) / n`` with ``n = 2^k - 1`` (``torch.round``: half to even), identity at k = 32 and
  ``sign(u)`` at k = 1; the backward pass hands the gradient through unchanged (straight-through).
* Weights (per tensor, outputs in [-1, 1], not rescaled): ``2 Q_k(tanh(w) / (2 max|tanh(w)|) + 0.5) - 1``; the
  max is differentiated. k = 1: ``sign(w / E) E`` with ``E = mean|w|`` detached; k = 32: ``w``.
* Activations (PACT, learnable clip ``alpha`` initialised to 10): ``c = (|x| - |x - alpha| + alpha) / 2`` and
  ``y = round_ste(c (2^k - 1) / alpha) alpha / (2^k - 1)``. Because only the rounding is straight-through,
  ``dy/dalpha = dc/dalpha + (y - c) / alpha`` (not the PACT paper's gradient); the gradient is 1/2 at x = 0
  and at x = alpha.

The bit-width is an attribute read on every forward, so changing ``bits`` takes effect at once. Every
quantizer exposes it as ``bits`` (and as ``k_bits``, the original spelling).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FLOAT_BITS = 32


class _RoundSTE(torch.autograd.Function):
    """``round`` forward, identity backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ARG004
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ARG004
        return grad


class _SignSTE(torch.autograd.Function):
    """``sign`` forward (sign(0) = 0), identity backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ARG004
        return torch.sign(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ARG004
        return grad


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round to the nearest integer (ties to even) with a straight-through gradient."""
    return _RoundSTE.apply(x)


def uniform_quantize(u: torch.Tensor, bits: int) -> torch.Tensor:
    """``Q_k(u)`` on [0, 1]: ``round(u (2^k - 1)) / (2^k - 1)``; ``sign(u)`` for k = 1; identity for k = 32."""
    if bits == FLOAT_BITS:
        return u
    if bits == 1:
        return _SignSTE.apply(u)
    n = float(2**bits - 1)
    return round_ste(u * n) / n


class _PactQuantize(torch.autograd.Function):
    """``round_ste(c n / alpha) alpha / n`` with ``c = 0.5 (|x| - |x - alpha| + alpha)`` as one autograd node.

    The forward pass performs the same operations in the same order as the expression written out (so the output
    is the same bit for bit), in two buffers instead of eleven. The backward pass reproduces what autograd computes
    through that expression, operation for operation: with ``g5 = ((g / n) alpha / alpha) n 0.5``, ``x`` gets
    ``-g5 sgn(x - alpha)`` and ``g5 sgn(x)`` and ``alpha`` the four broadcast-reduced terms
    ``sum((g / n) r)``, ``sum(-(g / n) alpha (z / alpha))``, ``sum(g5)``, ``sum(g5 sgn(x - alpha))`` added in the
    order autograd adds them (``r = round(z)``, ``z = c n / alpha``). ``(-a) b = -(a b)`` bit for bit, which saves
    separate negations (but ``-sum(t)`` is not ``sum(-t)``: an exact cancellation gives +0 in both sums, so
    negating the sum would give -0). ``x`` is passed twice, once for each place the
    expression reads it, so that its two terms reach the producer of ``x`` separately and in autograd's order (an
    ``x`` that also feeds something else then accumulates as in the unfused graph).
    """

    @staticmethod
    def forward(ctx, x, x_again, alpha, n: int, grad_mode: bool):  # type: ignore[override]
        z = x.abs()
        shifted = x - alpha
        keep = grad_mode and any(ctx.needs_input_grad[:3])
        sign_shifted = shifted.sgn() if keep else None
        z.sub_(shifted.abs_()).add_(alpha).mul_(0.5).mul_(n).div_(alpha)  # z = c n / alpha
        r = torch.round(z, out=shifted)
        if not keep:
            return r.mul_(alpha).div_(n)
        ctx.n = n
        ctx.save_for_backward(x, alpha, z, r, sign_shifted)
        return torch.mul(r, alpha).div_(n)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, alpha, z, r, sign_shifted = ctx.saved_tensors
        n = ctx.n
        need_x = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        need_alpha = ctx.needs_input_grad[2]
        g = grad / n
        scratch = None
        if need_alpha:
            scratch = torch.mul(g, r)
            from_scale = scratch.sum_to_size(alpha.shape)  # through r * alpha
        g.mul_(alpha)
        if need_alpha:  # through c n / alpha
            from_divisor = torch.div(z, alpha, out=scratch).mul_(g).neg_().sum_to_size(alpha.shape)
        g.div_(alpha).mul_(n).mul_(0.5)  # g5, the gradient reaching |x| - |x - alpha| + alpha
        grad_alpha = through_abs = None
        if need_alpha:
            grad_alpha = from_scale + from_divisor + g.sum_to_size(alpha.shape)
        if need_x:
            through_abs = torch.sgn(x, out=scratch).mul_(g) if scratch is not None else x.sgn().mul_(g)
        g.mul_(sign_shifted)  # alpha's term through x - alpha, -(-g5 sgn(x - alpha))
        if need_alpha:
            grad_alpha = grad_alpha + g.sum_to_size(alpha.shape)
        if not need_x:
            return None, None, grad_alpha, None, None
        return g.neg_(), through_abs, grad_alpha, None, None


class _DorefaWeight(torch.autograd.Function):
    """``2 Q_k(tanh(w) / 2 / max|tanh(w)| + 0.5) - 1`` (2 <= k < 32) as one autograd node.

    Same operations in the same order as the expression written out, forward and backward (the backward pass is
    what autograd computes through it: the straight-through rounding, the quotient rule for the max, the max's
    gradient shared among the entries equal to it, the sign of ``tanh(w)``, then ``tanh_backward``), so outputs
    and gradients are the same bit for bit; one node instead of twelve, which is most of the cost for the small
    weight tensors.
    CPU only: autograd shares the max's gradient by a different rule on other devices.
    """

    @staticmethod
    def forward(ctx, w, n: float, grad_mode: bool):  # type: ignore[override]
        t = torch.tanh(w)
        peak = t.abs().max()
        u = torch.div(t, 2).div_(peak)
        y = torch.add(u, 0.5).mul_(n).round_().div_(n).mul_(2).sub_(1)
        if grad_mode and ctx.needs_input_grad[0]:
            ctx.n = n
            ctx.save_for_backward(t, peak, u)
        return y

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        t, peak, u = ctx.saved_tensors
        n = ctx.n
        g = torch.mul(grad, 2).div_(n).mul_(n)  # the gradient reaching t / 2 / max|t|
        grad_peak = torch.div(u, peak).mul_(g).neg_().sum_to_size(peak.shape)
        # max's rule on the CPU: the entries equal to it (the NaN ones when it is NaN) share its gradient
        magnitude = t.abs()
        at_peak = magnitude.isnan() if bool(peak.isnan()) else magnitude == peak
        from_peak = torch.zeros_like(t).index_put_((at_peak,), grad_peak / at_peak.sum()).mul_(t.sgn())
        grad_t = from_peak.add_(g.div_(peak).div_(2))
        return torch.ops.aten.tanh_backward(grad_t, t), None, None


def _check_bits(bits: int) -> int:
    if isinstance(bits, bool) or int(bits) != bits or not 1 <= int(bits) <= FLOAT_BITS:
        raise ValueError(f"quantizer bits must be an int in 1..32, got {bits!r}")
    return int(bits)


class _BitsMixin:
    """One ``bits`` property per quantizer; ``k_bits`` is the original name of the same attribute."""

    _bits: int

    @property
    def bits(self) -> int:
        return self._bits

    @bits.setter
    def bits(self, value: int) -> None:
        self._bits = _check_bits(value)

    @property
    def k_bits(self) -> int:
        return self._bits

    @k_bits.setter
    def k_bits(self, value: int) -> None:
        self.bits = value


class WeightQuantizer(_BitsMixin, nn.Module):
    """DoReFa weight quantizer (the original ``weight_quantize``)."""

    def __init__(self, bits: int = 8) -> None:
        super().__init__()
        self.bits = bits

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        k = self._bits
        if k == FLOAT_BITS:
            return w
        if k == 1:
            scale = w.abs().mean().detach()
            return uniform_quantize(w / scale, 1) * scale
        if w.dim() == 0 or w.device.type != "cpu" or w.dtype not in (torch.float32, torch.float64):
            t = torch.tanh(w)
            u = t / 2 / t.abs().max() + 0.5
            return 2 * uniform_quantize(u, k) - 1
        return _DorefaWeight.apply(w, float(2**k - 1), torch.is_grad_enabled())

    def extra_repr(self) -> str:
        return f"bits={self._bits}"


class PACT(_BitsMixin, nn.Module):
    """PACT activation quantizer with a learnable clip ``alpha`` (the original ``pact_quantize``)."""

    def __init__(self, bits: int = 8, alpha: float = 10.0) -> None:
        super().__init__()
        self.bits = bits
        self.alpha = nn.Parameter(torch.full((1,), float(alpha)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.alpha
        x = x.float()  # the simulated integer grid stays in float32 under autocast
        if self._bits == FLOAT_BITS:
            return 0.5 * (x.abs() - (x - a).abs() + a)
        if x.dtype != a.dtype or x.dim() < a.dim():
            clipped = 0.5 * (x.abs() - (x - a).abs() + a)
            n = 2**self._bits - 1
            return round_ste(clipped * n / a) * a / n
        return _PactQuantize.apply(x, x, a, 2**self._bits - 1, torch.is_grad_enabled())

    def extra_repr(self) -> str:
        return f"bits={self._bits}"


class QuantConv2d(nn.Conv2d):
    """Conv whose weight goes through a :class:`WeightQuantizer` (submodule ``quantize_weight``) each forward."""

    def __init__(self, *args: object, bits: int = 8, **kwargs: object) -> None:
        kwargs.setdefault("bias", False)
        super().__init__(*args, **kwargs)
        self.quantize_weight = WeightQuantizer(bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.quantize_weight(self.weight), self.bias)


class QuantLinear(nn.Linear):
    """Linear layer whose weight goes through a :class:`WeightQuantizer` (submodule ``quantize_weight``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, bits: int = 8) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.quantize_weight = WeightQuantizer(bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.quantize_weight(self.weight), self.bias)


QUANTIZER_TYPES: tuple[type[nn.Module], ...] = (PACT, WeightQuantizer)
WEIGHT_LAYER_TYPES: tuple[type[nn.Module], ...] = (QuantConv2d, QuantLinear)
