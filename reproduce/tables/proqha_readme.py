"""ProQHA: the README's only table (ResNet-18 on ImageNet, top-1 and "Cost") (docs/proqha.md section 6).

The uniform rows' Cost is recomputed (:mod:`reproduce.cost_table`, convention ``proqha``); the literature rows'
accuracies (ABC-Net, DoReFa, PACT, LQ-Nets) are quoted from the PACT paper; the MP rows need the search,
because no configuration was shipped.
"""

from __future__ import annotations

from reproduce.accuracy_recipes import proqha_baseline, proqha_search
from reproduce.tables.model import IMAGENET, CostLookup, Row, Table, needs, reference

PAPER = "ProQHA"
LITERATURE = (
    "{method} {bits}/{bits} as quoted from the literature (PACT paper); not produced by this repository"
)

# (label, W bits, published top-1, published cost); W = 0 marks the mixed-precision rows
ROWS = [
    ("Baseline", 32, 70.20, 1.0),
    ("ABC-Net", 5, 65.00, 0.1563),
    ("DoReFa", 5, 68.40, 0.1563),
    ("PACT", 5, 69.80, 0.1563),
    ("ProQHA", 0, 70.01, 0.1491),
    ("ABC-Net", 3, 61.00, 0.0938),
    ("DoReFa", 3, 67.50, 0.0938),
    ("PACT", 3, 68.10, 0.0938),
    ("LQ-Nets", 3, 68.20, 0.0938),
    ("ProQHA", 0, 68.34, 0.0918),
]


def readme_table(costs: CostLookup) -> Table:
    t = Table(
        "proqha_readme",
        PAPER,
        "README table (ResNet-18, ImageNet; Cost = weight-storage ratio against 32 bits)",
        "ProQHA README; docs/proqha.md 6-7",
        notes=[
            "The MP costs need a search configuration: with this net's layer sizes only an integer bit sum of 1422 "
            "gives 0.1491 and 875 gives 0.0918 (docs/proqha.md 7); the search writes bitconfigs/round_{s}.json.",
        ],
    )
    for method, bits, top1, cost in ROWS:
        recipes = None
        if bits == 0:
            recipes = proqha_search(cost)
            command = recipes.train.display()
            need = f"{IMAGENET}: the progressive search (500 candidates, 30 epochs per round) and the round at this cost"
            cells = [needs("cost", cost, need), needs("top-1 %", top1, need)]
            label = f"ProQHA MP (cost {cost})"
        else:
            item = f"ResNet18 W{bits}A{bits}"
            cost_cell = costs.cell("cost", PAPER, item, "cost")
            if method == "Baseline":
                recipes = proqha_baseline()
                command = recipes.train.display()
                top1_cell = needs("top-1 %", top1, f"{IMAGENET}: the float baseline (first run of run.sh)")
                label = "Baseline 32/32"
            else:
                command = cost_cell.command
                top1_cell = reference("top-1 %", top1, LITERATURE.format(method=method, bits=bits))
                label = f"{method} {bits}/{bits}"
            cells = [cost_cell, top1_cell]
        t.rows.append(Row(label, cells, command, recipes))
    return t


def tables(costs: CostLookup) -> list[Table]:
    return [readme_table(costs)]
