"""HMQ: the README's ImageNet Pareto figure (top-1 against size in MB = 10^6 bytes) (docs/hmq.md 6.1).

HMQ shipped no bit configurations, so a point's size is an output of the search like its accuracy: both need
ImageNet. The points were read off the figure by pixel calibration (about +-0.01 MB, +-0.02 %).
"""

from __future__ import annotations

from reproduce.accuracy_recipes import hmq_imagenet
from reproduce.tables.model import IMAGENET, CostLookup, Row, Table, needs

PAPER = "HMQ"
WEIGHTS = {
    "mobilenet_v1": "the original MobileNetV1 weights ($MPQ_WEIGHTS_DIR/hmq/mobilenet_v1_imagenet.pth)",
    "mobilenet_v2": "torchvision's MobileNetV2 weights",
    "resnet50": "torchvision's ResNet-50 weights",
    "efficient_net": "torchvision's EfficientNet-B0 weights",
}

# network label -> (--network_name, [(size MB, top-1 %, implied WCR, assumed target)]), spec 6.1 and 7
POINTS = {
    "ResNet-50": ("resnet50", [(6.204, 75.01, 15.12, 16), (8.939, 76.12, 10.50, 12), (10.837, 76.30, 8.66, 8)]),
    "MobileNetV1": ("mobilenet_v1", [(1.144, 68.35, 14.72, 16), (1.513, 69.81, 11.13, 12), (2.136, 70.91, 7.88, 8)]),
    "MobileNetV2": ("mobilenet_v2", [(0.949, 68.38, 14.62, 16), (1.260, 69.83, 11.02, 12), (1.766, 70.92, 7.86, 8)]),
    "EfficientNet-B0": (
        "efficient_net",
        [(1.377, 71.52, 15.21, 16), (1.689, 74.59, 12.40, 12), (2.545, 75.98, 8.23, 8), (5.056, 76.42, 4.14, 4)],
    ),
}  # fmt: skip


def pareto_table(costs: CostLookup) -> Table:
    t = Table(
        "hmq_imagenet_pareto",
        PAPER,
        "README figure parto_final.png (ImageNet top-1 % against size in MB)",
        "HMQ README figure; docs/hmq.md 6.1 and 7; tests/golden/hmq/published_figures.json",
        notes=[
            "Only the MobileNetV1 / WCR 8 command is published; every point reuses its hyper-parameters with the "
            "target compression the point's implied WCR suggests (16 / 12 / 8, and 4): an assumption.",
            "After a run, `python -m hmq.pareto runs/hmq/pareto --out pareto.png` draws the figure; `final.json` "
            "holds the size (MB) and top-1 of each point.",
        ],
    )
    for label, (net, points) in POINTS.items():
        need = (
            f"{IMAGENET} and {WEIGHTS[net]}: the size is the search's output (no configuration was shipped)"
        )
        for size, top1, wcr, target in points:
            recipes = hmq_imagenet(net, target)
            t.rows.append(
                Row(
                    f"{label} WCR ~{wcr:g}",
                    [needs("size MB", size, need), needs("top-1 %", top1, need)],
                    recipes.train.display(),
                    recipes,
                )
            )
    return t


def tables(costs: CostLookup) -> list[Table]:
    return [pareto_table(costs)]
