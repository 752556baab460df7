"""AdaRound weight quantizer (Nagel et al. 2020) as used by BRECQ (docs/ompq.md §3.4).

h(α) = clamp(σ(α)(ζ − γ) + γ, 0, 1) with ζ = 1.1, γ = −0.1; α starts where h(α) = frac(W/Δ). Soft:
floor(W/Δ) + h(α); hard: floor(W/Δ) + [α ≥ 0]; ``nearest``: round(W/Δ); then clamp with z and dequantize.
The rounding regulariser is λ Σ (1 − |2h − 1|^β).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ompq.PTQ.quant.quantizer import UniformAffineQuantizer, clamp_inclusive

ZETA = 1.1
GAMMA = -0.1


class AdaRoundQuantizer(nn.Module):
    """Learned rounding on the grid (Δ, z) of an initialised :class:`UniformAffineQuantizer`."""

    def __init__(
        self, uaq: UniformAffineQuantizer, weight_tensor: Tensor, round_mode: str = "learned_hard_sigmoid"
    ) -> None:
        super().__init__()
        self.n_bits = uaq.n_bits
        self.sym = uaq.sym
        self.delta = uaq.delta
        self.zero_point = uaq.zero_point
        self.n_levels = uaq.n_levels
        self.round_mode = round_mode
        self.soft_targets = False
        rest = weight_tensor / self.delta - torch.floor(weight_tensor / self.delta)
        self.alpha = nn.Parameter(-torch.log((ZETA - GAMMA) / (rest - GAMMA) - 1))

    def get_soft_targets(self) -> Tensor:
        """h(α) = clamp(σ(α)(ζ − γ) + γ, 0, 1)."""
        return clamp_inclusive(torch.sigmoid(self.alpha) * (ZETA - GAMMA) + GAMMA, 0, 1)

    def forward(self, x: Tensor) -> Tensor:
        if self.round_mode == "nearest":
            x_int = torch.round(x / self.delta)
        elif self.round_mode == "learned_hard_sigmoid":
            x_floor = torch.floor(x / self.delta)
            x_int = x_floor + (self.get_soft_targets() if self.soft_targets else (self.alpha >= 0).float())
        else:
            raise ValueError(f"unknown round_mode {self.round_mode!r}")
        q = clamp_inclusive(x_int + self.zero_point, 0, self.n_levels - 1)
        return (q - self.zero_point) * self.delta


def rounding_regularizer(h: Tensor, weight: float, b: float) -> Tensor:
    """λ Σ (1 − |2h − 1|^b)."""
    return weight * (1 - ((h - 0.5).abs() * 2).pow(b)).sum()
