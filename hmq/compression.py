"""Compression figures and the target-compression loss (docs/hmq.md sections 3.6, 3.7 and 7).

Over the weight blocks l (n_l weights each):

    WCR          = sum_l 32 n_l / sum_l b_l n_l            b_l = chosen (argmax) bit-width
    expected WCR = sum_l 32 n_l / sum_l E[b_l] n_l         E[b_l] from softmax(pi_l), no noise
    penalty      = gamma * relu((target - r) / target) ^ gamma_rate

Over the activation blocks (per-sample sizes s_l, F = max_l s_l):

    activation compression = 32 F / max_l (b_l s_l)
    activation bit rule    b_l = clamp(floor(32 F / (target_a s_l)), min_bits, max_bits)
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from hmq.block import HMQ

__all__ = [
    "activation_bit_rule",
    "activation_blocks",
    "activation_max_compression",
    "apply_activation_bit_rule",
    "compression_penalty",
    "expected_weight_compression",
    "hmq_blocks",
    "weight_blocks",
    "weight_compression",
]


def hmq_blocks(model: nn.Module) -> list[tuple[str, HMQ]]:
    """Every HMQ block of ``model`` with its module name, in registration order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, HMQ)]


def weight_blocks(model: nn.Module) -> list[tuple[str, HMQ]]:
    """The weight HMQ blocks of ``model``."""
    return [(n, m) for n, m in hmq_blocks(model) if m.is_weight]


def activation_blocks(model: nn.Module) -> list[tuple[str, HMQ]]:
    """The activation HMQ blocks of ``model``."""
    return [(n, m) for n, m in hmq_blocks(model) if not m.is_weight]


def _blocks(x: nn.Module | Iterable[HMQ], weights: bool) -> list[HMQ]:
    if isinstance(x, nn.Module):
        found = weight_blocks(x) if weights else activation_blocks(x)
        return [m for _, m in found]
    return list(x)


def expected_weight_compression(blocks: nn.Module | Iterable[HMQ]) -> torch.Tensor:
    """Expected WCR (differentiable w.r.t. every search matrix)."""
    wb = _blocks(blocks, True)
    sizes = [float(m.tensor_size) for m in wb]
    expected = torch.stack([m.expected_bits() * n for m, n in zip(wb, sizes, strict=True)]).sum()
    return 32.0 * sum(sizes) / expected


def weight_compression(blocks: nn.Module | Iterable[HMQ]) -> float:
    """WCR of the chosen bit-widths."""
    wb = _blocks(blocks, True)
    sizes = [int(m.tensor_size) for m in wb]
    return 32.0 * sum(sizes) / sum(m.bit_width() * n for m, n in zip(wb, sizes, strict=True))


def activation_max_compression(blocks: nn.Module | Iterable[HMQ]) -> float:
    """``32 * max_l s_l / max_l (b_l s_l)`` over activation blocks whose size is known (0 if none)."""
    ab = [m for m in _blocks(blocks, False) if int(m.tensor_size) > 0]
    if not ab:
        return 0.0
    return 32.0 * max(int(m.tensor_size) for m in ab) / max(m.bit_width() * int(m.tensor_size) for m in ab)


def activation_bit_rule(sizes: list[int], target: float, min_bits: int, max_bits: int) -> list[int]:
    """``clamp(floor(32 F / (target s_l)), min_bits, max_bits)`` for each size, ``F = max(sizes)``."""
    biggest = max(sizes)
    return [max(min(int(math.floor(32 * biggest / (target * s))), max_bits), min_bits) for s in sizes]


def apply_activation_bit_rule(model: nn.Module, target: float, min_bits: int, max_bits: int) -> list[int]:
    """Set every activation block's bit-width by :func:`activation_bit_rule`; returns the bits.

    The block sizes must be known (they are recorded by the statistics pass).
    """
    ab = [m for _, m in activation_blocks(model)]
    if not ab:
        return []
    sizes = [int(m.tensor_size) for m in ab]
    if min(sizes) <= 0:
        raise RuntimeError("activation sizes are unknown: run the statistics pass first")
    bits = activation_bit_rule(sizes, target, min_bits, max_bits)
    for m, b in zip(ab, bits, strict=True):
        m.set_bits([b])
    return bits


def compression_penalty(r: torch.Tensor, target: float, gamma: float, gamma_rate: float) -> torch.Tensor:
    """``gamma * relu((target - r) / target) ^ gamma_rate`` (zero once ``r >= target``)."""
    return gamma * torch.pow(torch.relu((target - r) / target), gamma_rate)
