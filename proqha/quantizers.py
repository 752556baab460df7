"""DoReFa weight and PACT activation quantizers of ProQHA (specs/proqha.md section 3.1).

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
        t = torch.tanh(w)
        u = t / 2 / t.abs().max() + 0.5
        return 2 * uniform_quantize(u, k) - 1

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
        clipped = 0.5 * (x.abs() - (x - a).abs() + a)
        if self._bits == FLOAT_BITS:
            return clipped
        n = 2**self._bits - 1
        return round_ste(clipped * n / a) * a / n

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
