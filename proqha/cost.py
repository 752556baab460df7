"""ProQHA's "Cost" (computation ratio), docs/proqha.md section 7 (``get_model_size`` / ``measure/compute.py``).

    Cost = sum_j b_j n_j / (32 sum_j n_j)

over the quantized conv/linear layers j in module order, n_j = numel of layer j's weight. Float layers are
left out of both sums. Pairing of b_j:

* ``odd_position`` (faithful default): b_j = the bit list at position 2j+1. For pre-activation models (order
  A, W) that is conv j's weight bits; for ImageNet ResNet-18 (order W, A) it is the PACT after conv j.
* ``weight_bits`` (the corrected pairing): b_j = the bits of layer j's own weight quantizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from proqha.bits import quantizer_names
from proqha.quantizers import FLOAT_BITS, WEIGHT_LAYER_TYPES

PAIRINGS = ("odd_position", "weight_bits")


@dataclass(frozen=True)
class CostModel:
    """What the cost needs from a model: weight sizes and where each layer's weight quantizer sits."""

    layer_names: list[str]
    weight_sizes: list[int]
    weight_positions: list[int]

    @property
    def original_bits(self) -> float:
        """32 * sum_j n_j (the original ``ori_size``)."""
        return float(FLOAT_BITS * sum(self.weight_sizes))

    def charged_bits(self, bits: Sequence[int], pairing: str = "odd_position") -> list[int]:
        if pairing == "odd_position":
            charged = [int(b) for b in bits[1::2]]
            if len(charged) != len(self.weight_sizes):
                raise ValueError(
                    f"{len(bits)} bits give {len(charged)} odd positions for {len(self.weight_sizes)} layers"
                )
            return charged
        if pairing == "weight_bits":
            return [int(bits[p]) for p in self.weight_positions]
        raise ValueError(f"unknown cost pairing {pairing!r}; choose from {', '.join(PAIRINGS)}")

    def current_bits(self, bits: Sequence[int], pairing: str = "odd_position") -> float:
        """sum_j b_j n_j."""
        return float(
            sum(b * n for b, n in zip(self.charged_bits(bits, pairing), self.weight_sizes, strict=True))
        )

    def cost(self, bits: Sequence[int], pairing: str = "odd_position") -> float:
        return self.current_bits(bits, pairing) / self.original_bits


def cost_model(model: nn.Module) -> CostModel:
    """Weight sizes of the quantized conv/linear layers and the list position of each one's weight quantizer."""
    names = quantizer_names(model)
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, WEIGHT_LAYER_TYPES)]
    positions = [names.index(f"{n}.quantize_weight") for n, _ in layers]
    return CostModel([n for n, _ in layers], [m.weight.numel() for _, m in layers], positions)
