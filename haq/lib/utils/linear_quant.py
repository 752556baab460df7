"""Linear (uniform) fake quantization of weights and layer inputs: HAQ's ``QConv2d`` / ``QLinear``
(docs/haq.md section 3.5, "Linear quantization").

Per tensor, in float32:

* weights, signed, clip ``c`` (``weight_range``, frozen after calibration; max|W| when unset):
  ``s = c/(2^(w_bit-1) - 1)``, ``Q(W) = s·round(clamp(W, -c, c)/s)``; straight-through gradient everywhere;
* inputs, clip ``r`` (``activation_range``, trainable, init 6): unsigned layers (post-ReLU inputs) use
  ``k = a_bit`` bits on ``x_c = ½(|x| - |x - r| + r)`` = clamp(x, 0, r); signed layers spend one of the
  ``a_bit`` bits on the sign, ``k = a_bit - 1``, on ``x_c = ½(|x + r| - |x - r|)`` = clamp(x, -r, r);
  ``s = r/(2^k - 1)``, ``Q(x) = s·round(x_c/s)`` with the gradient of ``x_c`` (PACT-style, trains ``r``).
  ``k <= 0`` or ``a_bit = -1`` leaves the input in float.

``torch.round`` rounds half to even, as the original. Calibration (:func:`calibrate`) runs one batch with
quantization off and sets ``c`` (KL search when ``w_bit < 5``, else max|W|) and ``r = min(6, max|x|)``
(further limited by the KL search when ``k < 5``). Bias is never quantized. The forward pass has no host
synchronisation (scales are 0-dim tensors), so it works under ``torch.compile``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from haq.lib.utils.kl_threshold import kl_clip_threshold

INIT_ACTIVATION_RANGE = 6.0


class _StraightThrough(torch.autograd.Function):
    """Forward the quantized value, send the gradient to the un-quantized one unchanged."""

    @staticmethod
    def forward(ctx, source: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return quantized.detach()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return grad, None


class _ClipQuantize(torch.autograd.Function):
    """The input quantizer as one autograd node: ``s·round(x_c/s)`` forward, the gradient of ``x_c`` backward.

    ``x_c`` is computed with the same operations in the same order as the expression written out (unsigned:
    ``½(|x| - |x - r| + r)``, signed: ``½(|-x - r| - |x - r|)``), in place in one buffer that then becomes the
    output. The backward pass is what autograd computes through that expression, term for term (``sgn`` of each
    ``abs`` argument, the range's two terms added as autograd adds them; ``(-a) b = -(a b)`` bit for bit saves the
    separate negations). ``x`` is passed twice, once for each place the expression reads it, so that its two
    gradient terms reach the producer of ``x`` separately and in autograd's order: an ``x`` that also feeds
    something else (a residual) then accumulates exactly as in the unfused graph. Same bits, forward and backward.
    """

    @staticmethod
    def forward(ctx, x, x_again, r, step, half_wave: bool, grad_mode: bool):  # type: ignore[override]
        keep = grad_mode and any(ctx.needs_input_grad[:3])
        sign_outer = None
        if half_wave:  # ½(|x| - |x - r| + r)
            c = x.abs()
            inner = x - r
            sign_inner = inner.sgn() if keep else None
            c.sub_(inner.abs_()).add_(r).mul_(0.5)
        else:  # ½(|-x - r| - |x - r|)
            outer = torch.neg(x).sub_(r)
            sign_outer = outer.sgn() if keep else None
            c = outer.abs_()
            inner = x - r
            sign_inner = inner.sgn() if keep else None
            c.sub_(inner.abs_()).mul_(0.5)
        if keep:
            ctx.half_wave = half_wave
            ctx.save_for_backward(x, r, sign_inner, sign_outer)
        return c.div_(step).round_().mul_(step)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, r, sign_inner, sign_outer = ctx.saved_tensors
        need_x = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        need_r = ctx.needs_input_grad[2]
        g = grad * 0.5  # the gradient reaching the expression inside ½(...)
        grad_r = None
        if ctx.half_wave:  # x terms: -g sgn(x - r) (through x - r), then g sgn(x) (through |x|)
            if need_r:
                grad_r = g.sum_to_size(r.shape)
            through_abs = x.sgn().mul_(g) if need_x else None
            g.mul_(sign_inner)  # the range's term through x - r is -(-g sgn(x - r))
            if need_r:
                grad_r = grad_r + g.sum_to_size(r.shape)
            through_shift = g.neg_() if need_x else None
        else:  # x terms: -g sgn(x - r) (through x - r), then -g sgn(-x - r) (through -x); r gets their negatives
            through_neg = torch.mul(g, sign_outer).neg_()
            g.mul_(sign_inner)
            if need_r:
                grad_r = g.sum_to_size(r.shape) + through_neg.sum_to_size(r.shape)
            through_shift, through_abs = g.neg_(), through_neg
        if not need_x:
            return None, None, grad_r, None, None, None
        return through_shift, through_abs, grad_r, None, None, None


def _step(clip: torch.Tensor, levels: float) -> torch.Tensor:
    """``clip/levels`` computed in float64 and rounded once to float32 (the original divides Python floats).

    On the CPU a float32 ``clip`` is divided in float32 directly: both operands are float32 values (``levels`` is an
    integer below 2^24), and rounding their quotient to float64 first and then to float32 gives the correctly rounded
    float32 quotient (double rounding through a format with at least 2p + 2 bits is innocuous for division), which
    is what the CPU's float32 division returns; other devices may divide by a reciprocal, so they keep float64.
    """
    c = clip.detach()
    if c.device.type == "cpu" and c.dtype == torch.float32 and levels < 2.0**24:
        return (c / levels).reshape(())
    return (c.double() / levels).float().reshape(())


class QModule(nn.Module):
    """Quantization state shared by :class:`QConv2d` and :class:`QLinear` (mixed into the torch layer)."""

    def _init_quant(self, w_bit: int = -1, a_bit: int = -1, half_wave: bool = True) -> None:
        self.half_wave = bool(half_wave)
        self.w_bit = int(w_bit)
        self.a_bit = int(a_bit)
        self.quantized = True
        self.calibrating = False
        self.activation_range = nn.Parameter(torch.tensor([INIT_ACTIVATION_RANGE]))
        self.weight_range = nn.Parameter(torch.tensor([-1.0]), requires_grad=False)

    @property
    def a_bit(self) -> int:
        """Input bits as HAQ counts them (a signed layer's count includes the sign bit)."""
        return self._act_levels_bits if self.half_wave else self._act_levels_bits + 1

    @a_bit.setter
    def a_bit(self, value: int) -> None:
        self._act_levels_bits = int(value) if self.half_wave else int(value) - 1

    def set_calibrate(self, calibrate: bool = True) -> None:
        self.calibrating = bool(calibrate)

    def quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        k = self._act_levels_bits
        if not self.quantized or k <= 0:
            return x
        if self.calibrating:
            r = min(INIT_ACTIVATION_RANGE, x.abs().max().item())
            if k < 5:
                r = min(r, kl_clip_threshold(x.detach().cpu().numpy(), k))
            self.activation_range.data = torch.tensor([r], device=x.device)
            return x
        r = self.activation_range
        step = _step(r, 2.0**k - 1.0)
        if x.dtype == r.dtype and x.dim() >= r.dim():
            return _ClipQuantize.apply(x, x, r, step, self.half_wave, torch.is_grad_enabled())
        if self.half_wave:
            clipped = 0.5 * (x.abs() - (x - r).abs() + r)
        else:
            clipped = 0.5 * ((-x - r).abs() - (x - r).abs())
        q = clipped.detach().div(step).round().mul(step)
        return _StraightThrough.apply(clipped, q)

    def quantize_weight(self, w: torch.Tensor) -> torch.Tensor:
        if not self.quantized or self.w_bit <= 0:
            return w
        with torch.no_grad():  # an unset range (<= 0) becomes max|W|; amax: the same value, faster than max()
            stored = self.weight_range
            torch.where(stored > 0, stored, w.detach().abs().amax(), out=stored)
        if self.calibrating:
            if self.w_bit < 5:
                c = kl_clip_threshold(w.detach().cpu().numpy(), self.w_bit)
            else:
                c = w.detach().abs().max().item()
            self.weight_range.data[0] = c
            return w
        c = self.weight_range.detach().reshape(())
        step = _step(c, 2.0 ** (self.w_bit - 1) - 1.0)
        q = w.detach().clamp(-c, c)
        return _StraightThrough.apply(w, q.div_(step).round_().mul_(step))

    def quant_repr(self) -> str:
        kind = "unsigned" if self.half_wave else "signed"
        return f"w_bit={self.w_bit}, a_bit={self.a_bit}, {kind} input"


class QConv2d(nn.Conv2d, QModule):
    """``nn.Conv2d`` with HAQ's linear weight and input quantization (bits -1 = off)."""

    def __init__(
        self, *args, w_bit: int = -1, a_bit: int = -1, half_wave: bool = True, bias: bool = False, **kwargs
    ) -> None:
        super().__init__(*args, bias=bias, **kwargs)
        self._init_quant(w_bit, a_bit, half_wave)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.quantize_input(x), self.quantize_weight(self.weight), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.quant_repr()}"


class QLinear(nn.Linear, QModule):
    """``nn.Linear`` with HAQ's linear weight and input quantization (bits -1 = off)."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, *, w_bit: int = -1, a_bit: int = -1,
        half_wave: bool = True, **kwargs,
    ) -> None:  # fmt: skip
        super().__init__(in_features, out_features, bias=bias, **kwargs)
        self._init_quant(w_bit, a_bit, half_wave)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.quantize_input(x), self.quantize_weight(self.weight), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.quant_repr()}"


QUANT_TYPES: tuple[type, ...] = (QConv2d, QLinear)


def qmodules(model: nn.Module) -> list[QModule]:
    """Every :class:`QModule` of ``model`` in ``modules()`` order."""
    return [m for m in model.modules() if isinstance(m, QModule)]


def set_bits(model: nn.Module, strategy: Iterable[tuple[int, int]]) -> None:
    """Give the i-th quantizable layer ``(w_bit, a_bit)`` = ``strategy[i]`` (HAQ's layer order)."""
    layers = [m for m in model.modules() if type(m) in QUANT_TYPES]
    pairs = [tuple(p) for p in strategy]
    if len(pairs) != len(layers):
        raise ValueError(f"strategy has {len(pairs)} entries for {len(layers)} quantizable layers")
    for m, (w, a) in zip(layers, pairs, strict=True):
        m.w_bit, m.a_bit = int(w), int(a)


@torch.no_grad()
def calibrate(model: nn.Module, batch: torch.Tensor) -> None:
    """Calibration of section 3.5: one forward of ``batch`` with every QModule in calibrate mode.

    The model keeps whatever train/eval mode it is in (so BN statistics move in train mode, as in the original).
    """
    mods = qmodules(model)
    for m in mods:
        m.set_calibrate(True)
    try:
        model(batch)
    finally:
        for m in mods:
            m.set_calibrate(False)
