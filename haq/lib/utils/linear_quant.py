"""Linear (uniform) fake quantization of weights and layer inputs: HAQ's ``QConv2d`` / ``QLinear``
(spec haq.md section 3.5, "Linear quantization").

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


def _step(clip: torch.Tensor, levels: float) -> torch.Tensor:
    """``clip/levels`` computed in float64 and rounded once to float32 (the original divides Python floats)."""
    return (clip.detach().double() / levels).float().reshape(())


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
        if self.half_wave:
            clipped = 0.5 * (x.abs() - (x - r).abs() + r)
        else:
            clipped = 0.5 * ((-x - r).abs() - (x - r).abs())
        step = _step(r, 2.0**k - 1.0)
        q = clipped.detach().div(step).round().mul(step)
        return _StraightThrough.apply(clipped, q)

    def quantize_weight(self, w: torch.Tensor) -> torch.Tensor:
        if not self.quantized or self.w_bit <= 0:
            return w
        with torch.no_grad():
            stored = self.weight_range
            stored.copy_(torch.where(stored > 0, stored, w.detach().abs().max()))
        if self.calibrating:
            if self.w_bit < 5:
                c = kl_clip_threshold(w.detach().cpu().numpy(), self.w_bit)
            else:
                c = w.detach().abs().max().item()
            self.weight_range.data[0] = c
            return w
        c = self.weight_range.detach().reshape(())
        step = _step(c, 2.0 ** (self.w_bit - 1) - 1.0)
        q = w.detach().clamp(-c, c).div(step).round().mul(step)
        return _StraightThrough.apply(w, q)

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
