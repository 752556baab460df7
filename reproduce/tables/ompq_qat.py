"""OMPQ: the README's QAT table (paper Table 1 subset; ResNet-18/50 on ImageNet) (docs/ompq.md 6.1).

Size ("Mb" = MiB) and BOPs are recomputed from the shipped bit configurations (:mod:`reproduce.cost_table`,
convention ``ompq``); top-1 needs ImageNet and pytorchcv's float weights, or OMPQ's released QAT models.
"""

from __future__ import annotations

from reproduce.accuracy_recipes import OMPQ_RELEASES, ompq_qat
from reproduce.tables.model import IMAGENET, IMAGENET_VAL, CostLookup, Row, Table, needs

PAPER = "OMPQ"

# scheme -> (label, top-1 or None where the repository publishes none)
ROWS = {
    "modelsize_6.7_a8_97B": ("ResNet-18 mixed/8 6.7 Mb", 72.30),
    "modelsize_6.7_a6_75B": ("ResNet-18 mixed/6 6.7 Mb", 72.08),
    "modelsize_16.0_a5_141BOP": ("ResNet-50 mixed/5 16.0 Mb", 76.20),
    "modelsize_18.7_a5_156BOP": ("ResNet-50 mixed/5 18.7 Mb", 76.28),
    "modelsize_21.2_a7_226BOP": ("ResNet-50 mixed/7 21.2 Mb (config only, not in the README)", None),
}


def qat_table(costs: CostLookup) -> Table:
    t = Table(
        "ompq_qat",
        PAPER,
        "README QAT table (ImageNet top-1; size in Mb = MiB, BOPs in G)",
        "OMPQ README; docs/ompq.md 6.1 and 7",
        notes=[
            "ResNet-50 BOPs depend on two counting quirks of the original (stage1.unit1.conv1 at 112x112, fc with "
            "512 inputs), kept in convention `ompq` (`ompq_fixed` drops them).",
            "The 21.2 Mb config ships without a published accuracy; its size and BOPs come from its name.",
        ],
    )
    for scheme, (label, top1) in ROWS.items():
        arch = "resnet18" if "6.7" in scheme else "resnet50"
        key = f"bit_config_{arch}_{scheme}"
        cells = [costs.cell("size Mb", PAPER, key, "size_Mb"), costs.cell("BOPs G", PAPER, key, "GBOPs")]
        recipes = ompq_qat(arch, scheme)
        if top1 is not None:
            cells.append(
                needs(
                    "top-1 %",
                    top1,
                    f"{IMAGENET} and pytorchcv's {arch} weights (--pretrained); or {IMAGENET_VAL} and OMPQ's "
                    f"released QAT model (Google Drive folder {OMPQ_RELEASES[scheme]}) under CHECKPOINTS "
                    f"({recipes.eval.display()})",
                )
            )
        t.rows.append(Row(label, cells, recipes.train.display(), recipes if top1 is not None else None))
    return t


def tables(costs: CostLookup) -> list[Table]:
    return [qat_table(costs)]
