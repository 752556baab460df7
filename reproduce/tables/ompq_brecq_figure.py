"""OMPQ: the figure comparing OMPQ with BRECQ (PTQ, mixed weights, 8-bit activations) (docs/ompq.md 6.2).

Each point's x (model size, Mb = MiB) is recomputed from the shipped PTQ list it was made with, or for the
dashed uniform references from the all-2/all-4-bit list; OMPQ's accuracies need ImageNet; BRECQ's points come
from BRECQ's own search and are quoted, not produced here.
"""

from __future__ import annotations

from reproduce.accuracy_recipes import ompq_ptq, ompq_uniform_ptq
from reproduce.tables.model import CostLookup, Row, Table, needs, reference
from reproduce.tables.ompq_ptq import PAPER, ptq_need

BRECQ = "BRECQ's own mixed-precision result as plotted by OMPQ (BRECQ's search is not in this repository)"

# net -> (arch, [(size, OMPQ top-1, BRECQ top-1)])
POINTS = {
    "ResNet-18": (
        "resnet18",
        [(3.0, 65.91, 66.09), (3.5, 68.54, 67.99), (4.0, 69.34, 68.82), (4.5, 69.73, 69.53), (5.0, 70.08, 70.13),
         (5.5, 70.52, 70.53)],
    ),
    "MobileNetV2": (
        "mobilenetv2",
        [(0.9, 63.81, 63.73), (1.1, 67.65, 67.40), (1.3, 69.51, 68.99), (1.5, 71.27, 70.28)],
    ),
}  # fmt: skip


def figure_table(costs: CostLookup) -> Table:
    t = Table(
        "ompq_brecq_figure",
        PAPER,
        "comparison.jpg: OMPQ vs BRECQ (PTQ, W mixed / A8, ImageNet top-1 against size in Mb)",
        "OMPQ README figure; docs/ompq.md 6.2 (values read from the point labels)",
        notes=[
            "The figure does not say which run made the dashed uniform references; the commands given are "
            "uniform-bit PTQ with the same script (an assumption).",
        ],
    )
    for net, (arch, points) in POINTS.items():
        cost_arch = "ResNet18" if arch == "resnet18" else "MobileNetV2"
        prefix = "r18" if arch == "resnet18" else "mbv2"
        for size, ompq, brecq in points:
            key = f"PTQ_{arch}_{size:.1f}Mb"
            recipes = ompq_ptq(f"{prefix}_{size:.1f}", "OMPQ top-1 %")
            t.rows.append(
                Row(
                    f"{net} {size:.1f} Mb",
                    [
                        costs.cell("size Mb", PAPER, key, "size_Mb"),
                        needs("OMPQ top-1 %", ompq, ptq_need(arch)),
                        reference("BRECQ top-1 %", brecq, BRECQ),
                    ],
                    recipes.train.display(),
                    recipes,
                )
            )
        two = ompq_uniform_ptq(arch, 2)
        four = ompq_uniform_ptq(arch, 4, "OMPQ top-1 %")
        top1_2 = 62.9 if arch == "resnet18" else 53.0
        t.rows.append(
            Row(
                f"{net} uniform 2-bit (dashed)",
                [
                    costs.cell("size Mb", PAPER, f"{cost_arch} uniform W2 PTQ", "size_Mb"),
                    needs("top-1 %", top1_2, ptq_need(arch)),
                ],
                two.train.display(),
                two,
            )
        )
        cells = [costs.cell("size Mb", PAPER, f"{cost_arch} uniform W4 PTQ", "size_Mb")]
        if arch == "mobilenetv2":  # the MobileNetV2 panel labels its uniform 4-bit point
            cells += [needs("OMPQ top-1 %", 71.60, ptq_need(arch)), reference("BRECQ top-1 %", 71.39, BRECQ)]
        t.rows.append(
            Row(
                f"{net} uniform 4-bit (dashed)", cells, four.train.display(), four if len(cells) > 1 else None
            )
        )
    return t


def tables(costs: CostLookup) -> list[Table]:
    return [figure_table(costs)]
