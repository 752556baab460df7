"""OMPQ in the benchmark: ORM importances on one batch -> size-constrained allocation -> OMPQ's QAT.

Search: ``python -m ompq.mixed_bit.feature_extract --model tiny_resnet --dataset digits --save_path digits
--path BASE --model_size MB --beta B --quant_type QAT --abits A --rounding dfs`` run in this process on the
benchmark's float checkpoint (``BASE/checkpoint/model_best.pth.tar`` links to it: OMPQ's ``--path`` layout).

Budget translation. OMPQ constrains only the model size, in its own counting (``common.cost.conventions.ompq``:
conv weights + 2*C_out BN parameters, fc weights + bias, MiB, stem and fc at 8 bits in QAT). ``--model_size`` is
the size of the budget's reference bits (searched layers at ``wbits``, conv1/fc at 8) counted that way, so the
method meets exactly the size that uniform model would have in its own unit. It does not search activation bits:
``--abits`` is one global integer, chosen here as the largest in 2..8 for which *every* bit list the allocation
can return under that size (integer weight bits 4..8 per entry, found by an exact MILP worst case) keeps the
benchmark's BOPs within the limit; the choice depends only on the budget, not on the searched bits, so the batch
is drawn once. OMPQ's QAT fixes conv1 and fc at W8A8 (it never searches them), as the benchmark pins them.

Settings against the paper (ResNet-18 QAT: β = 10, one batch of N = 32 images, SLSQP + DFS rounding):

* full mode keeps N = 32 images, SLSQP and DFS rounding (``--rounding dfs``: the original's ResNet-18 rounding,
  which never exceeds the size; ``auto`` would choose numpy rounding for a model not named resnet18);
* β = 1 (the repository's digits script) instead of 10: tiny_resnet has 8 entries whose γ = Σ_j≠i ORM are
  about 6, so β = 10 gives θ ≈ e^-60 and the allocation collapses to the size projection (spec quirk 1);
* quick mode uses 8 images (the ORM needs at least 2).

Fine-tuning: ``python -m ompq.QAT.quant_train -a tiny_resnet --bit_config FILE --resume FLOAT --fix_BN
--act_range_momentum=0.99`` with the recipe's epochs, batch size, lr, weight decay and seed (the paper: 90 epochs,
batch 128, lr 1e-4; the benchmark gives every method the same short recipe); the lr follows OMPQ's per-iteration
cosine to 0 (the common path keeps it constant). Quick mode: 1 epoch on 5 % of the training images.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import optimize

from common.cost.conventions.ompq import ompq_params
from common.cost.counters import MIB
from common.layers import LayerInfo
from reproduce.compare.budget import PINNED_BITS
from reproduce.compare.launch import amp_flags, distributed, loader_workers, run_step
from reproduce.compare.method import Context, FinetuneOutcome, Method, SearchOutcome, data_kind

#: β of the importance exp(-β·γ) (ompq/scripts/digits_chain.sh); ``--effort paper`` uses the paper's
BETA = 1.0
PAPER_BETA = 10.0
#: OMPQ's QAT weight bit range (allocation bounds x in [0.5, 1] of 8 bits)
WEIGHT_BITS = (4, 8)
#: the global activation bit-widths the adapter may pass as --abits
ABITS_RANGE = (2, 8)
#: the most searchable entries whose floor/ceil rounding OMPQ's exhaustive depth-first search finishes in seconds
MAX_DFS_ENTRIES = 24


def beta(ctx: Context) -> float:
    """β of ``ctx``'s effort: the paper's 10 for ``--effort paper``, else the digits script's 1."""
    return PAPER_BETA if ctx.effort == "paper" and not ctx.quick else BETA


#: images of the one search batch: the paper's N, and the quick-mode N
SEARCH_IMAGES = 32
QUICK_SEARCH_IMAGES = 8


@dataclass(frozen=True)
class SearchPlan:
    """The search's budget in OMPQ's terms and the activation bits chosen for the BOPs limit."""

    model_size_mb: float
    abits: int
    #: the largest benchmark BOPs any allowed bit list reaches at ``abits``
    worst_bops: float
    #: whether that worst case meets the benchmark's BOPs limit
    bops_guaranteed: bool


def searchable_groups(ctx: Context) -> tuple[list[tuple[str, ...]], tuple[str, ...]]:
    """OMPQ's QAT searchable entries of ``ctx.arch`` (each: the layers sharing one weight bit) and its fixed layers."""
    from ompq.mixed_bit.search_model import build_search_model, resolve_model
    from ompq.mixed_bit.searchable import fixed_layers, searchable_entries

    model = build_search_model(resolve_model(ctx.arch), ctx.num_classes)
    return [e.layers for e in searchable_entries(model, "QAT")], fixed_layers(model, "QAT")


def ompq_size_mb(layers: list[LayerInfo], bits: dict[str, tuple[float, float]]) -> float:
    """OMPQ's model size ("Mb" = MiB) of per-layer weight bits: Σ_l w_l·p_l / 8 / 2^20 (p_l with BN / bias)."""
    return sum(bits[layer.name][0] * ompq_params(layer) for layer in layers) / 8 / MIB


def worst_case_macs_bits(
    macs: np.ndarray, params: np.ndarray, bit_budget: float, bounds: tuple[int, int] = WEIGHT_BITS
) -> float:
    """max Σ_i MACs_i·b_i over integer b_i in ``bounds`` with Σ_i p_i·b_i ≤ ``bit_budget`` (exact MILP)."""
    res = optimize.milp(
        c=-np.asarray(macs, float),
        integrality=np.ones(len(macs)),
        bounds=optimize.Bounds(np.full(len(macs), bounds[0]), np.full(len(macs), bounds[1])),
        constraints=optimize.LinearConstraint(np.asarray(params, float)[None, :], -np.inf, bit_budget),
    )
    if res.x is None:
        raise ValueError(f"no weight bits in {bounds} fit the OMPQ size budget: {res.message}")
    return float(np.dot(macs, np.round(res.x)))


def plan_search(ctx: Context) -> SearchPlan:
    """Translate ``ctx.budget`` into ``--model_size`` (OMPQ MiB) and ``--abits`` (see the module docstring).

    model_size = Σ_l w_l^ref·p_l / 8 / 2^20 over every layer, w^ref the budget's reference bits. For each a the
    worst benchmark BOPs is 64·Σ_fixed MACs + a·max Σ_i MACs_i·b_i, the max over the integer bits OMPQ may return
    (Σ_i p_i·b_i/8 ≤ model_size·2^20 − FL); ``--abits`` is the largest a whose worst case is within the limit,
    or the smallest candidate when none is.
    """
    groups, fixed = searchable_groups(ctx)
    info = {layer.name: layer for layer in ctx.layers}
    size_mb = ompq_size_mb(ctx.layers, ctx.budget.reference_bits(ctx.layers))
    fixed_bits = sum(PINNED_BITS * ompq_params(info[n]) for n in fixed)
    params = np.array([sum(ompq_params(info[n]) for n in g) for g in groups], float)
    macs = np.array([sum(info[n].macs for n in g) for g in groups], float)
    # a hair of slack: SLSQP meets the size constraint only to its tolerance before DFS rounds down
    bit_budget = (size_mb * MIB * 8 - fixed_bits) * (1 + 1e-9)
    weighted = worst_case_macs_bits(macs, params, bit_budget)
    fixed_ops = sum(info[n].macs * PINNED_BITS * PINNED_BITS for n in fixed)
    limit = ctx.limits.gbops * 1e9
    for a in range(ABITS_RANGE[1], ABITS_RANGE[0] - 1, -1):
        worst = fixed_ops + a * weighted
        if worst <= limit * (1 + 1e-9):
            return SearchPlan(size_mb, a, worst, True)
    a = ABITS_RANGE[0]
    return SearchPlan(size_mb, a, fixed_ops + a * weighted, False)


def link_base_model(checkpoint: Path, base: Path) -> Path:
    """Lay the float checkpoint out as OMPQ's ``--path`` expects (``base/checkpoint/model_best.pth.tar``)."""
    target = base / "checkpoint" / "model_best.pth.tar"
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    try:
        os.symlink(Path(checkpoint).resolve(), target)
    except OSError:  # a file system without links
        shutil.copyfile(checkpoint, target)
    return base


#: ``feature_extract --dataset`` per :func:`~reproduce.compare.method.data_kind`
OMPQ_DATASET = {"digits": "digits", "cifar10": "cifar10", "folder": "imagenet"}


class OmpqMethod(Method):
    name = "ompq"
    label = "OMPQ"

    def unsupported(self, arch: str, data: str, image_size: int, num_classes: int) -> str | None:
        """OMPQ's search models (``ompq.mixed_bit.search_model``): its ResNets, MobileNetV2 and the tiny models."""
        from ompq.mixed_bit.search_model import build_search_model, resolve_model
        from ompq.mixed_bit.searchable import searchable_entries

        try:
            model = build_search_model(resolve_model(arch), 10)
        except (Exception, SystemExit) as e:
            return f"OMPQ has no search model for {arch} ({' '.join(str(e).split())[:120]})"
        if data_kind(data) == "cifar10" and arch != "resnet20":
            return f"OMPQ's search reads cifar10: data for resnet20 only (its models are ImageNet ones), not {arch}"
        n = len(searchable_entries(model, "QAT"))
        if n > MAX_DFS_ENTRIES:
            return (
                f"{arch} has {n} OMPQ entries; OMPQ's depth-first rounding (allocation.dfs_bit) tries up to 2^n "
                f"floor/ceil assignments, beyond {MAX_DFS_ENTRIES} entries it does not finish"
            )
        return None

    def search_argv(self, ctx: Context, base: Path, out: Path, plan: SearchPlan) -> list[str]:
        """The ``ompq.mixed_bit.feature_extract`` command line of the search."""
        images = QUICK_SEARCH_IMAGES if ctx.quick else SEARCH_IMAGES
        return [
            "--model", ctx.arch, "--dataset", OMPQ_DATASET[data_kind(ctx.data)], "--save_path", ctx.data, "--path", str(base),
            "--model_size", repr(plan.model_size_mb), "--beta", repr(beta(ctx)), "--quant_type", "QAT",
            "--abits", str(plan.abits), "--rounding", "dfs", "--train_batch_size", str(images),
            "--manual_seed", str(ctx.seed), "--image_size", str(ctx.image_size),
            "--num_classes", str(ctx.num_classes), "--device", ctx.device, "--out", str(out),
        ]  # fmt: skip

    def search(self, ctx: Context, out: Path) -> SearchOutcome:
        from ompq.mixed_bit import feature_extract

        plan = plan_search(ctx)
        base = link_base_model(ctx.float_checkpoint, out / "base")
        result = feature_extract.main(self.search_argv(ctx, base, out, plan))
        bops = "met by any allowed bits" if plan.bops_guaranteed else "not guaranteed"
        images = QUICK_SEARCH_IMAGES if ctx.quick else SEARCH_IMAGES
        notes = [
            f"size only: --model_size {plan.model_size_mb:.6f} Mb = the budget's size in OMPQ's counting "
            f"(+BN/bias params, MiB), got {result['size_Mb']:.6f}; --abits {plan.abits}: BOPs {bops}",
            f"w in {{4..8}} per entry (conv2+downsample share one), a global; conv1/fc fixed W8A8; "
            f"beta {beta(ctx):g}, {images} images, SLSQP+DFS",
        ]
        return SearchOutcome(Path(result["bit_config"]), notes)

    def finetune_argv(self, ctx: Context, bitconfig: Path, out: Path) -> list[str]:
        """The ``ompq.QAT.quant_train`` command line: the recipe on OMPQ's README flags."""
        r = ctx.recipe
        argv = [
            "-a", ctx.arch, "--data", ctx.data, "--image_size", str(ctx.image_size),
            "--epochs", "1" if ctx.quick else str(r.epochs), "--lr", str(r.lr), "--batch_size", str(r.batch_size),
            "--wd", str(r.weight_decay), "--seed", str(r.seed), "--resume", str(ctx.float_checkpoint),
            "--bit_config", str(bitconfig), "--act_range_momentum=0.99", "--fix_BN", "-j", str(loader_workers(ctx)),
            "--device", ctx.device, "--save_path", f"{out}{os.sep}", "-p", "1000",
        ]  # fmt: skip
        if ctx.dali:
            argv += ["--dali"]  # the whole training set: DALI's reader takes no subset
        elif ctx.quick:
            argv += ["--data_percentage", "0.05"]
        argv += amp_flags(ctx)
        if distributed(ctx):  # -b is the global batch; BN statistics and activation ranges over all ranks
            argv += ["--sync_bn", "--sync_act_range"]
        return argv

    def finetune(self, ctx: Context, bitconfig: Path, out: Path) -> FinetuneOutcome:
        from ompq.QAT import quant_train

        run_step(ctx, "ompq.QAT.quant_train", self.finetune_argv(ctx, bitconfig, out), quant_train.main)
        acc = float(json.loads((out / "final.json").read_text(encoding="utf-8"))["val_acc1"])
        if math.isnan(acc):
            raise RuntimeError("ompq.QAT.quant_train returned no validation accuracy")
        notes = [
            "OMPQ's QAT (HAWQ-V3 integer modules, fix_BN, per-channel weights): SGD momentum 0.9 with a "
            "per-iteration cosine lr to 0 (OMPQ's schedule); non-8-bit activations (incl. 16-bit requant) "
            "asymmetric; no distillation",
        ]
        return FinetuneOutcome(acc, notes)


METHOD = OmpqMethod()
