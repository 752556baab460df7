"""HAQ: the README's two tables, K-means (ResNet-50, model size) and linear (MobileNetV2, latency).

The preserve ratio of a quantized row is a budget; ours is the recount of the shipped strategy under the
code's convention (:mod:`reproduce.cost_table`, docs/haq.md section 7). Top-1/top-5 need ImageNet and the
released checkpoint (or the float weights for a fine-tune).
"""

from __future__ import annotations

from reproduce.accuracy_recipes import (
    RowAccuracy,
    haq_kmeans,
    haq_linear,
    haq_mobilenetv2_float,
    haq_resnet50_float,
)
from reproduce.tables.model import IMAGENET, IMAGENET_VAL, CostLookup, Row, Table, needs, reference

PAPER = "HAQ"


def release_need(release: str, recipes: RowAccuracy) -> str:
    """What a quantized row needs: the release for its EVAL recipe, or ImageNet for its TRAIN recipe."""
    return (
        f"{IMAGENET_VAL} and the release {release} under CHECKPOINTS ({recipes.eval.display()}); or {IMAGENET} "
        f"for the fine-tune ({recipes.train.display()})"
    )


def kmeans_table(costs: CostLookup) -> Table:
    release = "resnet50_0.1_75.48.pth.tar"
    finetune = "bash haq/run/run_kmeans_quantize_finetune.sh"
    kmeans, resnet_float = haq_kmeans(), haq_resnet50_float()
    t = Table(
        "haq_kmeans",
        PAPER,
        "README table: K-means quantization, ResNet-50, model-size budget (ImageNet)",
        "HAQ README; docs/haq.md 6",
        notes=[
            "The README's strategy is the one that was in finetune.py when the 75.48 checkpoint was released; "
            "the later finetune.py list (commit 20e4ed3) meets the same budget (second row).",
            f"Search: `bash haq/run/run_kmeans_quantize_search.sh` ({IMAGENET}).",
        ],
    )
    float_need = (
        f"{IMAGENET_VAL} and torchvision's ResNet-50 V1 weights "
        f"(CHECKPOINTS/{resnet_float.eval.checkpoint_files()[0]})"
    )
    t.rows.append(
        Row(
            "ResNet-50 float (torchvision)",
            [
                costs.cell("preserve ratio", PAPER, "ResNet50 float", "size_ratio"),
                needs("top-1 %", 76.15, float_need),
                needs("top-5 %", 92.87, float_need),
            ],
            resnet_float.eval.display(),
            resnet_float,
        )
    )
    need = release_need(release, kmeans)
    t.rows.append(
        Row(
            "ResNet-50 K-means 10x (README strategy)",
            [
                costs.budget_cell(
                    "preserve ratio",
                    0.1,
                    1,
                    PAPER,
                    "ResNet50 K-means README strategy",
                    "size_ratio",
                    "K-means size ratio",
                ),  # fmt: skip
                needs("top-1 %", 75.48, need),
                needs("top-5 %", 92.42, need),
            ],
            kmeans.train.display(),
            kmeans,
        )
    )
    t.rows.append(
        Row(
            "ResNet-50 K-means 10x (later finetune.py strategy)",
            [
                costs.budget_cell(
                    "preserve ratio",
                    0.1,
                    1,
                    PAPER,
                    "ResNet50 K-means finetune.py strategy",
                    "size_ratio",
                    "K-means size ratio",
                ),  # fmt: skip
            ],
            f"{finetune} --strategy resnet50_kmeans_finetune_py",
        )
    )
    return t


def linear_table(costs: CostLookup) -> Table:
    release = "qmobilenetv2_0.6_71.23.pth.tar"
    linear, mbv2_float = haq_linear(), haq_mobilenetv2_float()
    t = Table(
        "haq_linear",
        PAPER,
        "README table: linear quantization, MobileNetV2, latency budget (BISMO cloud table, ImageNet)",
        "HAQ README; docs/haq.md 6",
        notes=[
            "The search script asks for 0.556; the shipped strategy meets 0.6 but not 0.556, so it came from a 0.6 "
            "run (docs/haq.md 7). Search: `bash haq/run/run_linear_quantize_search.sh` (ImageNet-100).",
        ],
    )
    float_need = release_need("mobilenetv2-150.pth.tar", mbv2_float)
    t.rows.append(
        Row(
            "MobileNetV2 float (pretrain.py)",
            [
                reference(
                    "preserve ratio",
                    1.0,
                    "a definition: the float model is the ratio's reference (the "
                    "latency table has no 32-bit column)",
                ),  # fmt: skip
                needs("top-1 %", 72.05, float_need),
                needs("top-5 %", 90.49, float_need),
            ],
            mbv2_float.train.display(),
            mbv2_float,
        )
    )
    need = release_need(release, linear)
    t.rows.append(
        Row(
            "MobileNetV2 linear 0.6x latency",
            [
                costs.budget_cell(
                    "preserve ratio",
                    0.6,
                    1,
                    PAPER,
                    "MobileNetV2 linear 0.6 strategy",
                    "latency_ratio",
                    "latency ratio",
                ),  # fmt: skip
                needs("top-1 %", 71.23, need),
                needs("top-5 %", 90.00, need),
            ],
            linear.train.display(),
            linear,
        )
    )
    return t


def tables(costs: CostLookup) -> list[Table]:
    return [kmeans_table(costs), linear_table(costs)]
