"""OMPQ: the README's PTQ table (BRECQ reconstruction with OMPQ's bit lists) (docs/ompq.md 6.1).

Sizes are recomputed from the shipped PTQ lists (first and last layers included; "Mb" = MiB); top-1 needs
ImageNet and BRECQ's float weights.
"""

from __future__ import annotations

from reproduce.accuracy_recipes import ompq_ptq as ptq_recipe
from reproduce.tables.model import IMAGENET, CostLookup, Row, Table, needs

PAPER = "OMPQ"
BRECQ_WEIGHTS = {
    "resnet18": "BRECQ's resnet18_imagenet.pth.tar (--weights)",
    "mobilenetv2": "BRECQ's mobilenetv2.pth.tar (--weights)",
}


def ptq_need(arch: str) -> str:
    return f"{IMAGENET} (calibration images from train/) and {BRECQ_WEIGHTS[arch]}"


# (label, shipped list, ptq.sh ROW, top-1)
ROWS = [
    ("ResNet-18 mixed/8 4.5 Mb", "PTQ_resnet18_4.5Mb", "r18_4.5", 69.73),
    ("ResNet-18 mixed/4 5.5 Mb", "PTQ_resnet18_5.5Mb", "r18_5.5_a4", 69.38),
    ("ResNet-18 mixed/8 4.0 Mb", "PTQ_resnet18_4.0Mb", "r18_4.0", 69.34),
    ("MobileNetV2 mixed/8 1.3 Mb", "PTQ_mobilenetv2_1.3Mb", "mbv2_1.3", 69.51),
    ("MobileNetV2 mixed/8 1.5 Mb", "PTQ_mobilenetv2_1.5Mb", "mbv2_1.5", 71.27),
]


def ptq_table(costs: CostLookup) -> Table:
    t = Table(
        "ompq_ptq",
        PAPER,
        "README PTQ table (ImageNet top-1; size in Mb = MiB)",
        "OMPQ README; docs/ompq.md 6.1 and 7",
        notes=[
            "The mixed/4 row runs the 5.5 Mb list with 4-bit activations (no script line in the original)."
        ],
    )
    for label, key, row, top1 in ROWS:
        arch = "resnet18" if row.startswith("r18") else "mobilenetv2"
        recipes = ptq_recipe(row)
        t.rows.append(
            Row(
                label,
                [costs.cell("size Mb", PAPER, key, "size_Mb"), needs("top-1 %", top1, ptq_need(arch))],
                recipes.train.display(),
                recipes,
            )
        )
    return t


def tables(costs: CostLookup) -> list[Table]:
    return [ptq_table(costs)]
