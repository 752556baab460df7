"""HAWQ-V3: the README's Tables I (ResNet18) and II (ResNet50) (docs/hawq.md section 6.1).

Size and BOPs are the cost figures of :mod:`reproduce.cost_table` (shipped bit configurations, convention
``hawq``); top-1 needs ImageNet and the pytorchcv float weights (or a model-zoo download); the inference times
and speed-ups are TVM measurements on a T4.
"""

from __future__ import annotations

from reproduce.accuracy_recipes import RowAccuracy, hawq_row
from reproduce.tables.model import IMAGENET, IMAGENET_VAL, CostLookup, Row, Table, needs

PAPER = "HAWQ-V3"
NETS = {"resnet18": "ResNet18", "resnet50": "ResNet50"}
TVM = "a T4 GPU with TVM at batch 8 (tvm_benchmark/, not ported: spec 2.4); not measurable here"
FP_TOP1 = (
    "{val} and pytorchcv's float {net} weights ($MPQ_WEIGHTS_DIR/pytorchcv/{arch}.pth, the file HAWQ's --pretrained "
    "starts from); the figure is pytorchcv's own evaluation, checked by {command}"
)

# README Tables I/II: scheme -> {arch: (top-1, time ms, speed-up)}; size and BOPs come from cost_table
README = {
    "FP32": {"resnet18": (71.47, 9.7, 1.0), "resnet50": (77.72, 26.2, 1.0)},
    "uniform8": {"resnet18": (71.56, 3.3, 3.0), "resnet50": (77.58, 8.5, 3.1)},
    "bops_0.5": {"resnet18": (70.22, 2.7, 3.6), "resnet50": (75.39, 6.9, 3.8)},
    "uniform4": {"resnet18": (68.45, 2.2, 4.4), "resnet50": (74.24, 5.8, 4.5)},
}
README_LABELS = {"FP32": "FP32", "uniform8": "W8A8", "bops_0.5": "Mixed (bops_0.5)", "uniform4": "W4A4"}


def cost_item(arch: str, scheme: str) -> str:
    """The cost_table item of a scheme: uniform rows are named by their bits, mixed rows by their key."""
    named = {"FP32": "FP32", "uniform8": "W8A8", "uniform4": "W4A4"}
    return f"{NETS[arch]} {named.get(scheme, scheme)}"


def float_eval(arch: str) -> str:
    """The command evaluating an FP32 row: :mod:`reproduce.eval_float` on HAWQ's own float starting point.

    It is printed, not run by ``--checkpoints`` (the float weights live in ``$MPQ_WEIGHTS_DIR``, not under the
    checkpoints folder); its ``final.json`` holds ``top1``.
    """
    return f"python -m reproduce.eval_float --paper hawq -a {arch} --data /data/imagenet --out runs/hawq/eval_float_{arch}"


def accuracy(arch: str, scheme: str) -> RowAccuracy:
    """The row's recipes; a float row has a reason instead (its command is :func:`float_eval`)."""
    if scheme == "FP32":
        return RowAccuracy(
            reason=FP_TOP1.format(val=IMAGENET_VAL, net=NETS[arch], arch=arch, command=float_eval(arch))
        )
    return hawq_row(arch, scheme)


def script(arch: str, scheme: str) -> str:
    """The model-zoo training command of a scheme (generated from its TRAIN recipe)."""
    return hawq_row(arch, scheme).train.display()


def top1_need(arch: str, scheme: str) -> str:
    if scheme == "FP32":
        return FP_TOP1.format(val=IMAGENET_VAL, net=NETS[arch], arch=arch, command=float_eval(arch))
    recipes = hawq_row(arch, scheme)
    return (
        f"{IMAGENET} and pytorchcv's {NETS[arch]} weights for the QAT run; or {IMAGENET_VAL} and the model-zoo "
        f"download {recipes.eval.checkpoint_files()[0]} under CHECKPOINTS ({recipes.eval.display()})"
    )


def cost_cells(costs: CostLookup, arch: str, scheme: str) -> list:
    item = cost_item(arch, scheme)
    return [
        costs.cell("size MB", PAPER, item, "size_MB"),
        costs.cell("BOPs G", PAPER, item, "GBOPs"),
    ]


def readme_tables(costs: CostLookup) -> list[Table]:
    tables = []
    for number, arch in (("I", "resnet18"), ("II", "resnet50")):
        t = Table(
            f"hawq_readme_{arch}",
            PAPER,
            f"README Table {number} ({NETS[arch]}, ImageNet; time: T4, TVM, batch 8)",
            "HAWQ README; docs/hawq.md 6.1",
        )
        for scheme, per_arch in README.items():
            top1, time_ms, speedup = per_arch[arch]
            command = float_eval(arch) if scheme == "FP32" else script(arch, scheme)
            t.rows.append(
                Row(
                    README_LABELS[scheme],
                    [
                        *cost_cells(costs, arch, scheme),
                        needs("top-1 %", top1, top1_need(arch, scheme)),
                        needs("time ms", time_ms, TVM, "-"),
                        needs("speed-up x", speedup, TVM, "-"),
                    ],
                    command,
                    accuracy(arch, scheme),
                )
            )
        tables.append(t)
    return tables


def tables(costs: CostLookup) -> list[Table]:
    return readme_tables(costs)
