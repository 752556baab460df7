"""Cost metrics: generic counters and one named convention per paper (contract 3 of docs/design.md).

``python -m common.cost ARCH (--bits W/A | --bit-config FILE) --convention NAME`` prints a per-layer
table and the totals; ``--json`` prints them for machines.
"""

from common.cost.convention import (
    Convention,
    CostError,
    CostReport,
    available_conventions,
    get_convention,
    register_convention,
)
from common.cost.evaluate import arch_layers, evaluate_bitconfig, evaluate_cost

__all__ = [
    "Convention",
    "CostError",
    "CostReport",
    "arch_layers",
    "available_conventions",
    "evaluate_bitconfig",
    "evaluate_cost",
    "get_convention",
    "register_convention",
]
