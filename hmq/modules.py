"""Layers carrying HMQ blocks (docs/hmq.md section 3.4, "Where HMQs sit and signedness").

* :class:`HmqConv2d` / :class:`HmqLinear`: the layer runs with its weight quantized by a signed weight
  block ``q`` (BatchNorm stays a separate float layer, not folded). They are ``nn.Conv2d``/``nn.Linear``
  subclasses, so module names, parameter names and layer enumeration are unchanged.
* :class:`HmqActivation`: a non-linearity followed by an activation block ``q``. ReLU is *not* applied
  when activations are quantized (the unsigned clip at 0 does its job); ReLU6 and Sigmoid are applied
  and then quantized unsigned; Identity, SiLU (Swish) and Hardswish are applied and quantized signed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hmq.block import HMQ, HmqControl

__all__ = ["ACTIVATION_KINDS", "SIGNED_KINDS", "HmqActivation", "HmqConv2d", "HmqLinear", "attach_weight_hmq"]

ACTIVATION_KINDS = ("relu", "relu6", "identity", "sigmoid", "swish", "hswish")
SIGNED_KINDS = ("identity", "swish", "hswish")


class HmqConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose weight passes through the weight block ``q`` when weights are quantized."""

    q: HMQ
    control: HmqControl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.q(self.weight) if self.control.quant_weights else self.weight
        return self._conv_forward(x, w, self.bias)


class HmqLinear(nn.Linear):
    """``nn.Linear`` whose weight passes through the weight block ``q`` when weights are quantized."""

    q: HMQ
    control: HmqControl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.q(self.weight) if self.control.quant_weights else self.weight
        return F.linear(x, w, self.bias)


def attach_weight_hmq(
    layer: nn.Conv2d | nn.Linear, control: HmqControl, bits_list: Sequence[int], n_thresholds_shifts: int
) -> nn.Module:
    """Turn ``layer`` into its HMQ subclass in place (same parameters) with a block on its current weight."""
    layer.__class__ = HmqConv2d if isinstance(layer, nn.Conv2d) else HmqLinear
    layer.control = control
    layer.q = HMQ(control, True, bits_list, n_thresholds_shifts, weight=layer.weight.detach())
    return layer


def _nonlinearity(kind: str) -> nn.Module:
    return {
        "relu": nn.ReLU(),
        "relu6": nn.ReLU6(),
        "identity": nn.Identity(),
        "sigmoid": nn.Sigmoid(),
        "swish": nn.SiLU(),
        "hswish": nn.Hardswish(),
    }[kind]


class HmqActivation(nn.Module):
    """A non-linearity of ``kind`` (one of :data:`ACTIVATION_KINDS`) with an activation block ``q``."""

    def __init__(self, kind: str, control: HmqControl, n_thresholds_shifts: int = 8) -> None:
        super().__init__()
        if kind not in ACTIVATION_KINDS:
            raise ValueError(f"unknown activation kind {kind!r}")
        self.kind = kind
        self.control = control
        self.nl = _nonlinearity(kind)
        self.q = HMQ(control, kind in SIGNED_KINDS, n_thresholds_shifts=n_thresholds_shifts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.control.quant_acts:
            return self.nl(x)
        if self.kind != "relu":
            x = self.nl(x)
        return self.q(x)

    def extra_repr(self) -> str:
        return self.kind
