"""How each accuracy of the published tables is measured: recipes attached to the table rows.

A row of :mod:`reproduce.tables` may carry a :class:`RowAccuracy`: an EVAL recipe (the original authors
released a checkpoint for the row; the recipe names the file expected under the checkpoints folder) and/or a
TRAIN recipe (the per-paper script that produces the row), or the reason neither exists. A recipe is data:
an argv and environment with placeholders, the files it needs, and the fields it reads back
(:class:`Field`: a key of the run's ``final.json``, a CSV column or a pattern in the log). The command a table
displays is generated from the recipe (:meth:`Recipe.display`), so the table and the runner cannot disagree.

Placeholders, substituted by :mod:`reproduce.accuracy_runs` (display value in brackets):

* ``{data}``: the dataset folder (``/data/imagenet``, or ``/data/cifar10`` for CIFAR-10 recipes);
* ``{out}``: the run folder of this recipe (the recipe's ``out_default``);
* ``{checkpoints}``: the checkpoints folder (``CHECKPOINTS``);
* ``{link}``: the run folder of the recipe named by ``link`` (its ``out_default``), for chained runs.

The first word ``python`` runs as ``sys.executable``, ``torchrun`` as ``sys.executable -m torch.distributed.run``;
scripts get ``PYTHON`` set to ``sys.executable``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

EVAL = "eval"
TRAIN = "train"
IMAGENET_DATA = "imagenet"
CIFAR10_DATA = "cifar10"
DATA_DISPLAY = {IMAGENET_DATA: "/data/imagenet", CIFAR10_DATA: "/data/cifar10"}
CHECKPOINTS_DISPLAY = "CHECKPOINTS"
FINAL = "final.json"
LOG = "log"


@dataclass(frozen=True)
class Field:
    """One number a run writes: ``key`` of the JSON file ``source``, a CSV column, or a regex on the log.

    ``source`` is a path under the run folder (``final.json`` by default; ``*.csv`` reads a column, taking the
    row that maximises ``best_by`` when given, else the last row) or ``log`` (``key`` is a regex whose first
    group is the number, the last match wins). ``digits`` is the paper's printed precision: the measured value
    rounded half up to it is compared with the published number.
    """

    column: str
    key: str
    source: str = FINAL
    best_by: str = ""
    digits: int = 2


@dataclass(frozen=True)
class Recipe:
    """A command that measures some cells of a row, and where its numbers land."""

    mode: str
    argv: tuple[str, ...]
    fields: tuple[Field, ...]
    out_default: str
    env: tuple[tuple[str, str], ...] = ()
    #: files the command reads that must exist before it runs (placeholders allowed)
    inputs: tuple[str, ...] = ()
    data: str = IMAGENET_DATA
    #: (table key, row label) of the TRAIN recipe whose run folder ``{link}`` names
    link: tuple[str, str] | None = None
    link_display: str = ""

    def substitute(self, text: str, values: dict[str, str]) -> str:
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        return text

    def display_values(self) -> dict[str, str]:
        return {
            "data": DATA_DISPLAY[self.data],
            "out": self.out_default,
            "checkpoints": CHECKPOINTS_DISPLAY,
            "link": self.link_display,
        }

    def display(self) -> str:
        """The command as the tables print it (placeholders replaced by their display values)."""
        values = self.display_values()
        env = [f"{k}={shlex.quote(self.substitute(v, values))}" for k, v in self.env]
        return " ".join([*env, shlex.join(self.substitute(a, values) for a in self.argv)])

    def checkpoint_files(self) -> list[str]:
        """The inputs under the checkpoints folder, relative to it."""
        prefix = "{checkpoints}/"
        return [i[len(prefix) :] for i in self.inputs if i.startswith(prefix)]

    def columns(self) -> list[str]:
        return [f.column for f in self.fields]


@dataclass(frozen=True)
class RowAccuracy:
    """The recipes of a row (either may be absent) and, for cells none covers, the reason."""

    eval: Recipe | None = None
    train: Recipe | None = None
    #: why a row has no recipe for some accuracy (e.g. "pytorchcv's own evaluation")
    reason: str = ""
    recipes: tuple[Recipe, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "recipes", tuple(r for r in (self.eval, self.train) if r is not None))

    def covers(self, column: str) -> bool:
        return any(column in r.columns() for r in self.recipes)


def _py(*args: str) -> tuple[str, ...]:
    return ("python", "-m", *args)


TOP1 = "top-1 %"
TOP5 = "top-5 %"

# ---------------------------------------------------------------------------------------------------- HAWQ-V3


def hawq_zoo_name(arch: str, scheme: str) -> str:
    """The model-zoo download of a scheme: ``resnet18_uniform8``, ``resnet50_bops0.5``, ``resnet18_size0.75``."""
    return f"{arch}_{scheme.replace('modelsize_', 'size').replace('_', '')}"


def hawq_row(arch: str, scheme: str) -> RowAccuracy:
    """EVAL: the model-zoo ``checkpoint.pth.tar`` through the README's evaluate script; TRAIN: the zoo script."""
    zoo = hawq_zoo_name(arch, scheme)
    evaluate = Recipe(
        EVAL,
        ("bash", "hawq/scripts/eval_resnet50_bops0.5.sh", "{data}", f"{{checkpoints}}/hawq/{zoo}/checkpoint.pth.tar",
         "{out}"),
        (Field(TOP1, "val_acc1"),),
        f"runs/hawq/eval_{zoo}",
        env=(("ARCH", arch), ("SCHEME", scheme)),
        inputs=(f"{{checkpoints}}/hawq/{zoo}/checkpoint.pth.tar",),
    )  # fmt: skip
    train = Recipe(
        TRAIN,
        ("bash", f"hawq/scripts/{arch}_{scheme}.sh"),
        (Field(TOP1, "best_acc1"),),
        f"runs/hawq/{arch}_{scheme}",
        env=(("DATA", "{data}"), ("OUT", "{out}")),
    )
    return RowAccuracy(evaluate, train)


# -------------------------------------------------------------------------------------------------------- HAQ

HAQ_EVAL_PRINT = r"Test Acc: ([0-9.]+)"
HAQ_EVAL_TOP5 = r"\(top-5 ([0-9.]+)\)"
HAQ_EVAL_FIELDS = (Field(TOP1, HAQ_EVAL_PRINT, LOG), Field(TOP5, HAQ_EVAL_TOP5, LOG))
HAQ_TRAIN_FIELDS = (
    Field(TOP1, "best_acc"),
    Field(TOP5, "val_top5", "epochs.csv", best_by="val_acc"),
)
#: torchvision's file for ResNet50_Weights.IMAGENET1K_V1 (the 2017 "V1" weights HAQ's README row evaluates)
TORCHVISION_RESNET50 = "resnet50-0676ba61.pth"


def haq_resnet50_float() -> RowAccuracy:
    evaluate = Recipe(
        EVAL,
        _py("haq.pretrain", "-a", "resnet50", "--pretrained", "--weights",
            f"{{checkpoints}}/haq/{TORCHVISION_RESNET50}", "-e", "--data", "{data}"),
        HAQ_EVAL_FIELDS,
        "runs/haq/eval_resnet50_float",
        inputs=(f"{{checkpoints}}/haq/{TORCHVISION_RESNET50}",),
    )  # fmt: skip
    return RowAccuracy(
        evaluate, reason="a float model evaluated with torchvision's weights: nothing to train"
    )


def haq_kmeans() -> RowAccuracy:
    ckpt = "{checkpoints}/haq/resnet50_0.1_75.48.pth.tar"
    evaluate = Recipe(
        EVAL,
        _py("haq.finetune", "-a", "resnet50", "--resume", ckpt, "--data", "{data}", "--workers", "32",
            "--test_batch", "512", "--free_high_bit", "False", "--eval"),
        HAQ_EVAL_FIELDS,
        "runs/haq/eval_resnet50_0.1_75.48",
        inputs=(ckpt,),
    )  # fmt: skip
    train = Recipe(
        TRAIN,
        ("bash", "haq/run/run_kmeans_quantize_finetune.sh", "--data", "{data}", "-c", "{out}"),
        HAQ_TRAIN_FIELDS,
        "runs/haq/resnet50_kmeans",
    )
    return RowAccuracy(evaluate, train)


def haq_mobilenetv2_float() -> RowAccuracy:
    ckpt = "{checkpoints}/haq/mobilenetv2-150.pth.tar"
    evaluate = Recipe(
        EVAL,
        _py("haq.pretrain", "-a", "mobilenetv2", "--resume", ckpt, "-e", "--data", "{data}"),
        HAQ_EVAL_FIELDS,
        "runs/haq/eval_mobilenetv2-150",
        inputs=(ckpt,),
    )
    train = Recipe(
        TRAIN,
        ("bash", "haq/run/run_pretrain.sh", "--data", "{data}", "-c", "{out}"),
        HAQ_TRAIN_FIELDS,
        "runs/haq/mobilenetv2_float",
    )
    return RowAccuracy(evaluate, train)


def haq_linear() -> RowAccuracy:
    ckpt = "{checkpoints}/haq/qmobilenetv2_0.6_71.23.pth.tar"
    evaluate = Recipe(
        EVAL,
        _py("haq.finetune", "-a", "qmobilenetv2", "--resume", ckpt, "--data", "{data}", "--workers", "32",
            "--test_batch", "512", "--free_high_bit", "False", "--linear_quantization", "--eval"),
        HAQ_EVAL_FIELDS,
        "runs/haq/eval_qmobilenetv2_0.6_71.23",
        inputs=(ckpt,),
    )  # fmt: skip
    train = Recipe(
        TRAIN,
        ("bash", "haq/run/run_linear_quantize_finetune.sh", "--data", "{data}", "-c", "{out}"),
        HAQ_TRAIN_FIELDS,
        "runs/haq/qmobilenetv2_0.6",
    )
    return RowAccuracy(evaluate, train)


# ------------------------------------------------------------------------------------------------------- OMPQ

#: OMPQ QAT scheme -> the Google-Drive folder of its released model (README links)
OMPQ_RELEASES = {
    "modelsize_6.7_a8_97B": "resnet18_6.7Mb_97BOPs",
    "modelsize_6.7_a6_75B": "resnet18_6.7Mb_75BOPs",
    "modelsize_16.0_a5_141BOP": "resnet50_16.0Mb_141BOPs",
    "modelsize_18.7_a5_156BOP": "resnet50_18.7Mb_156BOPs",
}


def ompq_qat(arch: str, scheme: str) -> RowAccuracy:
    """EVAL: OMPQ's released QAT model (HAWQ's checkpoint layout) with ``--resume_quantize -e``; TRAIN: qat.sh."""
    train = Recipe(
        TRAIN,
        ("bash", "ompq/scripts/qat.sh"),
        (Field(TOP1, "best_acc1"),),
        f"runs/ompq/qat_{arch}_{scheme}",
        env=(("ARCH", arch), ("SCHEME", scheme), ("DATA", "{data}"), ("OUT", "{out}")),
    )
    release = OMPQ_RELEASES.get(scheme)
    if release is None:
        return RowAccuracy(train=train)
    ckpt = f"{{checkpoints}}/ompq/{release}/checkpoint.pth.tar"
    evaluate = Recipe(
        EVAL,
        _py("ompq.QAT.quant_train", "-a", arch, "--epochs", "90", "--lr", "0.0001", "--batch_size", "128",
            "--data", "{data}", "--save_path", "{out}/", "--act_range_momentum=0.99", "--wd", "1e-4",
            "--data_percentage", "1", "--checkpoint_iter", "-1", "--quant_scheme", scheme, "--resume", ckpt,
            "--resume_quantize", "-e"),
        (Field(TOP1, "val_acc1"),),
        f"runs/ompq/eval_{release}",
        inputs=(ckpt,),
    )  # fmt: skip
    return RowAccuracy(evaluate, train)


PTQ_NO_RELEASE = "OMPQ released no PTQ model (the script saves nothing): the PTQ run is the measurement"


def ompq_ptq(row: str, column: str = TOP1) -> RowAccuracy:
    """TRAIN: ptq.sh at a ROW (BRECQ reconstruction with a shipped OMPQ list); the full-quant accuracy."""
    train = Recipe(
        TRAIN,
        ("bash", "ompq/scripts/ptq.sh"),
        (Field(column, "acc_full_quant"),),
        f"runs/ompq/ptq_{row}",
        env=(("ROW", row), ("DATA", "{data}"), ("OUT", "{out}")),
    )
    return RowAccuracy(train=train, reason=PTQ_NO_RELEASE)


def ompq_uniform_ptq(arch: str, bits: int, column: str = TOP1) -> RowAccuracy:
    """TRAIN: uniform-bit PTQ with the same script (the figure's dashed references; an assumption)."""
    argv = _py("ompq.PTQ.main_imagenet", "--data_path", "{data}", "--arch", arch, "--n_bits_w", str(bits),
               "--channel_wise", "--n_bits_a", "8", "--act_quant", "--test_before_calibration")  # fmt: skip
    if arch == "mobilenetv2":
        argv += ("--weight", "0.1")
    train = Recipe(
        TRAIN,
        (*argv, "--out", "{out}"),
        (Field(column, "acc_full_quant"),),
        f"runs/ompq/ptq_{arch}_w{bits}a8",
    )
    return RowAccuracy(train=train, reason=PTQ_NO_RELEASE)


# -------------------------------------------------------------------------------------------------------- HMQ

HMQ_NO_RELEASE = "HMQ released no quantized model and no configuration: the search run is the measurement"


def hmq_imagenet(net: str, target: int) -> RowAccuracy:
    """TRAIN: the README's MobileNetV1 command with another network and target (size MB and top-1 of the run)."""
    train = Recipe(
        TRAIN,
        ("torchrun", "--nproc_per_node=8", "-m", "hmq.main", "--data_dir", "{data}", "--network_name", net,
         "--lr_start", "0.000005", "--gamma", "64", "--lr_coefficient", "0.005", "--batch_size", "256",
         "--n_epochs", "30", "--target_compression", str(target), "--fp16", "--out", "{out}"),
        (Field("size MB", "size_MB", digits=3), Field(TOP1, "top1")),
        f"runs/hmq/pareto/{net}_wcr{target}",
    )  # fmt: skip
    return RowAccuracy(train=train, reason=HMQ_NO_RELEASE)


HMQ_CIFAR_ACTS = {
    8: ("--activation_min_bit_width", "8", "--target_compression_activation", "4"),
    4: ("--activation_max_bit_width", "4", "--target_compression_activation", "8"),
}
#: the float CIFAR-10 network HMQ's CIFAR points start from (not released: trained or supplied by the user)
HMQ_CIFAR_FLOAT = "{checkpoints}/hmq/resnet20_cifar10.pth"


def hmq_cifar(wcr: float, acts: int) -> RowAccuracy:
    """TRAIN: HMQ on CIFAR-10 from a float resnet20 (an assumption) with the point's WCR as the target."""
    train = Recipe(
        TRAIN,
        _py("hmq.main", "--dataset", "CIFAR10", "--data_dir", "{data}", "--network_name", "resnet20",
            "--pretrained", HMQ_CIFAR_FLOAT, "--target_compression", f"{wcr:g}", *HMQ_CIFAR_ACTS[acts],
            "--out", "{out}"),
        (Field("WCR", "wcr"), Field(TOP1, "top1")),
        f"runs/hmq/cifar10_a{acts}_wcr{wcr:g}",
        inputs=(HMQ_CIFAR_FLOAT,),
        data=CIFAR10_DATA,
    )  # fmt: skip
    return RowAccuracy(train=train, reason=HMQ_NO_RELEASE)


# ----------------------------------------------------------------------------------------------------- ProQHA

PROQHA_BASELINE_ROW = ("proqha_readme", "Baseline 32/32")
PROQHA_BASELINE_OUT = "runs/proqha/r18"
PROQHA_NO_RELEASE = "ProQHA released no checkpoint and no configuration: the training run is the measurement"


def proqha_baseline() -> RowAccuracy:
    """TRAIN: run.sh (float model, then the 8-bit QAT model the search starts from); top-1 of the float run."""
    train = Recipe(
        TRAIN,
        ("bash", "proqha/scripts/run.sh", ".", "imagenet", "r18", "", "resnet", "18"),
        (Field(TOP1, "best_top1", "r18-origin/final.json"),),
        PROQHA_BASELINE_OUT,
        env=(("DATA_DIR", "{data}"), ("OUT", "{out}")),
    )
    return RowAccuracy(train=train, reason=PROQHA_NO_RELEASE)


def proqha_search(cost: float) -> RowAccuracy:
    """TRAIN: search.sh from the baseline row's 8-bit model, stopping at the first round within ``cost``."""
    resume = "{link}/r18-quant/checkpoint/model_best.pt"
    train = Recipe(
        TRAIN,
        ("bash", "proqha/scripts/search.sh", ".", "imagenet", "r18_search", resume, "resnet", "18"),
        (Field("cost", "cost", digits=4), Field(TOP1, "test_top1")),
        f"runs/proqha/r18_search_cost{cost:g}",
        env=(("DATA_DIR", "{data}"), ("BASE_DATA_DIR", "{data}"), ("OUT", "{out}"),
             ("EXTRA_ARGS", f"--cost {cost:g} --enforce_cost")),
        inputs=(resume,),
        link=PROQHA_BASELINE_ROW,
        link_display=PROQHA_BASELINE_OUT,
    )  # fmt: skip
    return RowAccuracy(train=train, reason=PROQHA_NO_RELEASE)
