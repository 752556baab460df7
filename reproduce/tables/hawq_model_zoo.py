"""HAWQ-V3: model_zoo.md, both networks and the FP32 baselines (docs/hawq.md section 6.2).

Size and BOPs are the cost figures of :mod:`reproduce.cost_table`; speed-ups are TVM measurements on a T4;
top-1 needs ImageNet and the pytorchcv weights (or the model-zoo download).
"""

from __future__ import annotations

from reproduce.accuracy_recipes import RowAccuracy
from reproduce.tables.hawq_readme import NETS, PAPER, TVM, accuracy, cost_cells, float_eval, script, top1_need
from reproduce.tables.model import IMAGENET_VAL, CostLookup, Row, Table, needs

# model_zoo.md: scheme -> (label, {arch: (speed-up, top-1)}); size and BOPs come from cost_table
MODEL_ZOO = {
    "FP32": ("FP32", {"resnet18": (1.00, 71.47), "resnet50": (1.00, 77.72)}),
    "uniform8": ("W8A8", {"resnet18": (3.00, 71.56), "resnet50": (3.10, 77.58)}),
    "modelsize_0.75": ("High Size", {"resnet18": (3.09, 71.20), "resnet50": (3.38, 77.38)}),
    "modelsize_0.5": ("Medium Size", {"resnet18": (3.18, 70.50), "resnet50": (3.50, 75.95)}),
    "modelsize_0.25": ("Low Size", {"resnet18": (3.24, 70.01), "resnet50": (3.66, 74.89)}),
    "bops_0.75": ("High BOPS", {"resnet18": (3.36, 70.40), "resnet50": (3.60, 76.10)}),
    "bops_0.5": ("Medium BOPS", {"resnet18": (3.63, 70.22), "resnet50": (3.81, 75.39)}),
    "bops_0.25": ("Low BOPS", {"resnet18": (4.05, 68.72), "resnet50": (4.03, 74.45)}),
    "latency_0.75": ("High Latency", {"resnet18": (3.36, 70.40), "resnet50": (3.50, 76.63)}),
    "latency_0.5": ("Medium Latency", {"resnet18": (3.57, 70.34), "resnet50": (3.75, 74.95)}),
    "latency_0.25": ("Low Latency", {"resnet18": (4.05, 68.56), "resnet50": (3.97, 74.26)}),
    "uniform4": ("W4A4", {"resnet18": (4.44, 68.45), "resnet50": (4.50, 74.24)}),
}


def model_zoo_table(costs: CostLookup) -> Table:
    t = Table(
        "hawq_model_zoo",
        PAPER,
        "model_zoo.md (ImageNet; speed-up with TVM on a T4 against FP32)",
        "HAWQ model_zoo.md; docs/hawq.md 6.2",
        notes=[
            "ResNet18 bops_0.75 = latency_0.75 and bops_0.25 = latency_0.25 are the same shipped configurations.",
            "The model zoo states 75.58 % for the ResNet50 bops0.5 download (the row says 75.39 %).",
        ],
    )
    for scheme, (label, per_arch) in MODEL_ZOO.items():
        for arch, (speedup, top1) in per_arch.items():
            key = "" if scheme == "FP32" else f" (`{scheme}`)"
            t.rows.append(
                Row(
                    f"{NETS[arch]} {label}{key}",
                    [
                        *cost_cells(costs, arch, scheme),
                        needs("speed-up x", speedup, TVM, "-"),
                        needs("top-1 %", top1, top1_need(arch, scheme)),
                    ],
                    float_eval(arch) if scheme == "FP32" else script(arch, scheme),
                    accuracy(arch, scheme),
                )
            )
    baselines = {
        "ResNet101": 78.10,
        "ResNet101b": 79.41,
        "InceptionV3": 78.88,
    }
    #: the HAWQ --arch whose float model is the baseline (ResNet101b has no HAWQ wrapper)
    hawq_arch = {"ResNet101": "resnet101", "InceptionV3": "inceptionv3"}
    for net, top1 in baselines.items():
        item = f"{net} FP32"
        need = f"{IMAGENET_VAL} and pytorchcv's {net} weights; the figure is pytorchcv's own evaluation"
        command = "-"
        if net in hawq_arch:
            command = float_eval(hawq_arch[net])
            need += f", checked by {command}"
        t.rows.append(
            Row(
                f"{net} FP32 (pytorchcv baseline)",
                [
                    costs.cell("size MB", PAPER, item, "size_MB"),
                    costs.cell("BOPs G", PAPER, item, "GBOPs"),
                    needs("top-1 %", top1, need),
                ],
                command,
                RowAccuracy(reason=need),
            )
        )
    return t


def tables(costs: CostLookup) -> list[Table]:
    return [model_zoo_table(costs)]
