"""HMQ: the two CIFAR-10 figures shipped in images/ (top-1 against weight compression rate) (docs/hmq.md 6.3).

"MQB" in the images is HMQ's earlier name. HMQ's points need CIFAR-10 and a float CIFAR network (neither the
network nor its weights were shipped: ``resnet20`` is assumed); the other methods' points are quoted.
"""

from __future__ import annotations

from reproduce.accuracy_recipes import HMQ_CIFAR_FLOAT, hmq_cifar
from reproduce.tables.model import CostLookup, Row, Table, needs, reference

PAPER = "HMQ"
NEED = (
    f"CIFAR-10 and a float CIFAR network ({HMQ_CIFAR_FLOAT.replace('{checkpoints}', 'CHECKPOINTS')}; the paper's "
    "network and hyper-parameters were not published, resnet20 and the point's WCR as target are assumptions): "
    "WCR is the search's output"
)

# activation bits -> (image, {method: [(WCR, top-1)]}), spec 6.3 / golden published_figures.json
FIGURES = {
    8: (
        "parto_cifar10_8bit.png",
        {
            "HMQ": [(10.46, 92.89), (11.14, 92.84), (13.82, 92.80), (14.08, 92.78), (14.71, 92.62), (17.30, 92.49),
                    (18.18, 92.23), (19.11, 92.10), (19.15, 91.94), (19.29, 91.92), (19.45, 91.83), (19.79, 91.55)],
            "DNAS": [(11.14, 92.71), (16.59, 91.99)],
            "UNIQ": [(8.0, 91.50), (15.99, 90.88)],
            "LQ-Nets": [(10.65, 92.00), (15.83, 91.81)],
        },
    ),
    4: (
        "parto_cifar_4bit.png",
        {
            "HMQ": [(4.0, 92.56), (8.08, 92.54), (13.06, 92.36), (14.84, 92.27), (17.46, 92.08), (19.69, 90.77)],
            "HAWQ": [(13.10, 92.23)],
            "UNIQ": [(7.97, 89.50), (15.99, 88.11)],
        },
    ),
}  # fmt: skip


def cifar_table(acts: int) -> Table:
    image, methods = FIGURES[acts]
    t = Table(
        f"hmq_cifar10_a{acts}",
        PAPER,
        f"{image} (CIFAR-10 top-1 % against weight compression rate, {acts}-bit activations)",
        "HMQ images/ (not in the README); docs/hmq.md 6.3; tests/golden/hmq/published_figures.json",
        notes=[
            "Values read off the image (about +-0.05 where points overlap).",
            "WCR 4.0 means every weight at 8 bits (no candidate exceeds 8).",
        ],
    )
    for method, points in methods.items():
        for wcr, top1 in points:
            recipes = None
            if method == "HMQ":
                cells = [needs("WCR", wcr, NEED), needs("top-1 %", top1, NEED)]
                recipes = hmq_cifar(wcr, acts)
                command = recipes.train.display()
            else:
                why = f"{method}'s result as plotted by HMQ; not produced by this repository"
                cells = [reference("WCR", wcr, why), reference("top-1 %", top1, why)]
                command = "-"
            t.rows.append(Row(f"{method} WCR {wcr:g}", cells, command, recipes))
    return t


def tables(costs: CostLookup) -> list[Table]:
    return [cifar_table(8), cifar_table(4)]
