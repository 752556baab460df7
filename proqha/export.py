"""A ProQHA bit list -> the portable bit-config file (contract 2), with ProQHA's cost figures."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from common.bitconfig import BitConfig, from_proqha
from proqha.bits import quantizers
from proqha.cost import CostModel, cost_model
from proqha.models import Layout
from proqha.quantizers import WeightQuantizer


def list_order(model: nn.Module) -> str:
    """``"WA"`` when the first quantizer is a weight quantizer (post-activation ResNet-18), else ``"AW"``."""
    first = quantizers(model)[0][1]
    return "WA" if isinstance(first, WeightQuantizer) else "AW"


def bitconfig_of(
    model: nn.Module,
    layout: Layout,
    bits: Sequence[int],
    num_classes: int,
    *,
    source: str,
    costs: CostModel | None = None,
    extra_costs: dict | None = None,
) -> BitConfig:
    """The bit config of ``bits`` on ``model`` (layer names of ``layout.common_arch``) with both cost pairings."""
    costs = costs or cost_model(model)
    cfg = from_proqha(
        [int(b) for b in bits],
        layout.common_arch,
        order=list_order(model),
        quant_layers=costs.layer_names,
        source=source,
    )
    cfg.num_classes = int(num_classes)
    cfg.costs = {
        "proqha_cost": costs.cost(bits, "odd_position"),
        "proqha_cost_weight_bits": costs.cost(bits, "weight_bits"),
        "original_size_bits": costs.original_bits,
        **(extra_costs or {}),
    }
    cfg.extra["proqha"].update(
        {"dataset_family": layout.family, "arch": layout.arch, "num_layers": layout.num_layers}
    )
    return cfg
