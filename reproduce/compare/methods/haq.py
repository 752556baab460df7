"""HAQ in the benchmark: the linear (weights + activations) DDPG search under a BOPs "latency" table.

Search: ``python -m haq.lib.simulator.build_table --arch qtiny_resnet --mode bops`` writes a table whose entry
``T[i, w-1, a-1] = MACs_i·w·a`` is exactly the benchmark's BOPs of layer ``i``; then ``python -m haq.rl_quantize
--linear_quantization --always_pin_first_last`` searches ``[w, a]`` in 2..8 for every layer, starting from the
benchmark's float checkpoint (``--pretrained FILE``). HAQ's budget is ``Σ T ≤ preserve_ratio·Σ_i T[i, 7, 7]`` (all
layers at 8/8). Its pinned stem is ``[8, -1]`` (image not quantized), which the table charges at the 7-bit column,
``56·MACs_conv1``, while the benchmark writes and charges conv1 at W8A8 (``64·MACs_conv1``); so

    preserve_ratio = (BOPs limit − 8·MACs_conv1) / (64·Σ_i MACs_i),

and every strategy HAQ accepts meets the benchmark's BOPs limit once conv1 is written at 8/8. HAQ's linear mode
has no size constraint: the average weight bits are measured, not enforced (its size budget exists only in the
K-means mode, which does not quantize activations).

Data: ``digits``, CIFAR-10 (``cifar10:PATH``: HAQ's ``--dataset cifar10`` addition, CIFAR transforms) or an
ImageFolder of 1000, 100 or 10 classes (HAQ's ``imagenet``, ``imagenet100``, ``imagenet10``: its ``--dataset``
name fixes the classifier), always at the benchmark's ``--image-size`` (HAQ's ``--image_size`` addition); the
BOPs table is built at that side and class count, so it charges exactly what the benchmark charges.

Under ``--nproc-per-node N`` the search runs on torchrun: the agent is rank 0's, and each episode's fine-tune and
accuracies are data-parallel over the global ``--data_bsize`` (it must divide by N) with ``--sync-bn``.

Search effort (full mode) against the paper's ImageNet-100 run: 6 random (warm-up) + 16 policy episodes instead
of 21 + 579, each fine-tuning one epoch on 320 images of the digits training set (the paper: 20,000 ImageNet
images) at batch 64, because the whole search must fit in about 60 s on a 2-core CPU (about 35 s of CPU time
measured). With so few episodes the agent barely leaves its exploration phase; the
result is closer to HAQ's budget wall applied to explored policies than to a converged DDPG policy. The other DDPG settings are HAQ's defaults (σ 0.5 decaying 0.99 per
episode, minibatch 64, replay 128 per layer, reward ``0.1·(acc − acc_float)`` on the running training top-1).

Fine-tuning: ``python -m haq.finetune --linear_quantization --bit-config FILE`` from the float checkpoint with
the recipe's epochs, batch size, learning rate, weight decay and seed; HAQ's own SGD (momentum 0.9) with its
cosine schedule, per-tensor linear quantizers with KL-calibrated clips (one training batch) and trained PACT-style
activation ranges, BN kept in the float model (not folded).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.bitconfig import LayerBits, read_bitconfig, write_bitconfig
from reproduce.compare.budget import PINNED_BITS, measure, pinned_layers
from reproduce.compare.launch import loader_workers, per_process_batch, run_step, sync_bn_flags
from reproduce.compare.method import Context, FinetuneOutcome, Method, SearchOutcome, data_kind

#: HAQ's linear-mode bit range (w = 1 divides by zero in its weight quantizer)
MIN_BIT, MAX_BIT = 2, 8


@dataclass(frozen=True)
class Effort:
    """The search effort of one mode (section 3.6 of the spec names the paper's values)."""

    warmup: int
    episodes: int
    train_size: int
    val_size: int
    data_bsize: int
    bsize: int


#: smoke (tests): a few seconds; quick: about 60 s on a 2-core CPU; paper: HAQ's 21 + 579 episodes on 20k/10k images
EFFORT = {
    "smoke": Effort(warmup=0, episodes=2, train_size=32, val_size=16, data_bsize=16, bsize=8),
    "quick": Effort(warmup=5, episodes=16, train_size=320, val_size=64, data_bsize=64, bsize=64),
    "paper": Effort(warmup=20, episodes=579, train_size=20000, val_size=10000, data_bsize=256, bsize=64),
}


def effort(ctx: Context) -> Effort:
    """The :class:`Effort` of ``ctx``: smoke (``ctx.quick``), paper, or the CPU-sized quick preset."""
    return EFFORT["smoke" if ctx.quick else "paper" if ctx.effort == "paper" else "quick"]


def haq_arch(arch: str) -> str:
    """HAQ's name of the linear-quantization twin of a registered model (``q<name>``)."""
    return f"q{arch}"


#: HAQ's ``--dataset`` name of an ImageFolder by its class count (the name fixes HAQ's classifier outputs)
FOLDER_DATASET = {1000: "imagenet", 100: "imagenet100", 10: "imagenet10"}


def haq_dataset(data: str, num_classes: int) -> str | None:
    """HAQ's ``--dataset`` (``--data_name``) of the benchmark's ``--data``: ``digits``, ``cifar10`` (the
    addition, CIFAR transforms), or for an ImageFolder the ImageNet name of its class count (ImageNet
    transforms at ``--image_size``); None when no HAQ name has that many classes."""
    kind = data_kind(data)
    return kind if kind != "folder" else FOLDER_DATASET.get(num_classes)


def haq_seed(seed: int) -> int:
    """HAQ seeds nothing for ``--seed <= 0``; the benchmark's seed ``s`` is passed as ``s + 1``."""
    return seed + 1


def stem_gap(table: np.ndarray) -> float:
    """What the benchmark charges conv1 beyond HAQ's ``[8, -1]`` stem: ``T[0, 7, 7] − T[0, 7, 6]`` (= 8·MACs)."""
    return float(table[0, 7, 7] - table[0, 7, 6])


def preserve_ratio(limit_bops: float, table: np.ndarray) -> float:
    """``(BOPs limit − stem gap) / Σ_i T[i, 7, 7]``: HAQ's latency ratio that is the benchmark's BOPs limit."""
    return (limit_bops - stem_gap(table)) / float(table[:, 7, 7].sum())


class HaqMethod(Method):
    name = "haq"
    label = "HAQ"
    #: each episode's fine-tune and accuracy run data-parallel (``--data_bsize`` global, ``--sync-bn``)
    search_on_torchrun = True

    def unsupported(self, arch: str, data: str, image_size: int, num_classes: int) -> str | None:
        """HAQ builds ``q<arch>`` for any registered model; its ``--dataset`` name fixes the class count, so an
        ImageFolder must have 1000, 100 or 10 classes (:data:`FOLDER_DATASET`)."""
        from haq.models import ArchError, base_arch

        try:
            base_arch(haq_arch(arch))
        except ArchError as e:
            return f"HAQ cannot build {haq_arch(arch)} ({e})"
        if haq_dataset(data, num_classes) is None:
            return (
                f"HAQ's --dataset names 1000, 100 or 10 classes (imagenet, imagenet100, imagenet10); "
                f"this folder has {num_classes}"
            )
        return None

    def table_argv(self, ctx: Context, path: Path) -> list[str]:
        """``build_table`` command line of the BOPs table at the benchmark's image side and class count."""
        return [
            "--arch", haq_arch(ctx.arch), "--dataset", self.dataset(ctx), "--mode", "bops", "--out", str(path),
            "--image_size", str(ctx.image_size), "--num_classes", str(ctx.num_classes),
        ]  # fmt: skip

    def dataset(self, ctx: Context) -> str:
        """HAQ's ``--dataset`` for ``ctx`` (:func:`haq_dataset`); a pair :meth:`unsupported` refuses is an error."""
        name = haq_dataset(ctx.data, ctx.num_classes)
        if name is None:
            raise ValueError(f"HAQ has no --dataset of {ctx.num_classes} classes for {ctx.data}")
        return name

    def search_argv(self, ctx: Context, table: Path, ratio: float, out: Path) -> list[str]:
        """``rl_quantize`` command line of the linear search; under torchrun its ``--data_bsize`` (global) must
        split over the processes, and ``--sync-bn`` keeps the rewards those of one process."""
        e = effort(ctx)
        per_process_batch(ctx, e.data_bsize)
        return [
            "--arch", haq_arch(ctx.arch), "--dataset", self.dataset(ctx), "--dataset_root", ctx.data,
            "--image_size", str(ctx.image_size),
            "--linear_quantization", "--min_bit", str(MIN_BIT), "--max_bit", str(MAX_BIT), "--float_bit", "8",
            "--preserve_ratio", repr(ratio), "--latency_table", str(table), "--always_pin_first_last",
            "--pretrained", str(ctx.float_checkpoint), "--seed", str(haq_seed(ctx.seed)),
            "--train_episode", str(e.warmup + 1 + e.episodes), "--warmup", str(e.warmup),
            "--train_size", str(e.train_size), "--val_size", str(e.val_size), "--data_bsize", str(e.data_bsize),
            "--bsize", str(e.bsize), "--n_worker", str(loader_workers(ctx)), "--device", ctx.device, "--output", str(out),
            "--bitconfig", str(out / "haq_bitconfig.json"), *sync_bn_flags(ctx),
        ]  # fmt: skip

    def search(self, ctx: Context, out: Path) -> SearchOutcome:
        from haq import rl_quantize
        from haq.lib.simulator import build_table

        out.mkdir(parents=True, exist_ok=True)
        table_file = build_table.main(self.table_argv(ctx, out / "bops_table.npy"))
        table = np.load(table_file)
        ratio = preserve_ratio(ctx.limits.gbops * 1e9, table)
        argv = self.search_argv(ctx, table_file, ratio, out)
        run_step(ctx, "haq.rl_quantize", argv, rl_quantize.main)
        cfg = read_bitconfig(out / "haq_bitconfig.json")
        first, last = pinned_layers(ctx.layers)
        # HAQ leaves the image unquantized ([8, -1]); the benchmark's pinned conv1 is W8A8
        for name in (first, last):
            cfg.layers[name] = LayerBits(PINNED_BITS, PINNED_BITS)
        bits = {name: (lb.w, lb.a) for name, lb in cfg.layers.items()}
        cfg.costs = {**cfg.costs, **measure(ctx.layers, bits).as_dict(), "limits": ctx.limits.as_dict()}
        cfg.source = f"{cfg.source}; conv1 written at W8A8 for the benchmark"
        path = write_bitconfig(cfg, out / "bit_config.json")
        e = effort(ctx)
        notes = [
            f"BOPs limit as HAQ's latency budget: table T=MACs*w*a, preserve_ratio {ratio:.4f} of all-8/8 "
            "(stem charged at 8/8); size not enforced (linear mode has no size budget), only measured",
            f"[w,a] in {MIN_BIT}..{MAX_BIT} for all {len(bits)} layers, conv1/fc pinned 8/8; "
            f"{e.warmup + 1}+{e.episodes} episodes on {e.train_size} images (paper 21+579 on 20k)",
        ]
        return SearchOutcome(path, notes)

    def finetune_argv(self, ctx: Context, bitconfig: Path, out: Path) -> list[str]:
        """``haq.finetune`` command line with the recipe."""
        r = ctx.recipe
        return [
            "-a", haq_arch(ctx.arch), "--linear_quantization", "-d", ctx.data, "--data_name", self.dataset(ctx),
            "--image_size", str(ctx.image_size), "-j", str(loader_workers(ctx)), "--epochs", "1" if ctx.quick else str(r.epochs),
            "--train_batch", str(per_process_batch(ctx, r.batch_size)),
            "--lr", str(r.lr), "--wd", str(r.weight_decay), "--manualSeed", str(r.seed),
            "--pretrained", "--weights", str(ctx.float_checkpoint), "--bit-config", str(bitconfig),
            "--device", ctx.device, "-c", str(out), *sync_bn_flags(ctx),
            *(["--half"] if ctx.amp == "bf16" else []),  # HAQ's --half: bf16 autocast (its --half_type O1)
        ]  # fmt: skip

    def finetune(self, ctx: Context, bitconfig: Path, out: Path) -> FinetuneOutcome:
        from haq import finetune

        run_step(ctx, "haq.finetune", self.finetune_argv(ctx, bitconfig, out), finetune.main)
        with open(out / "epochs.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        notes = [
            "HAQ's finetune.py: SGD momentum 0.9 with its cosine LR, KL-calibrated per-tensor clips, "
            "trained activation ranges, BN not folded; conv1's input (the image) quantized at 8 bits"
        ]
        return FinetuneOutcome(float(rows[-1]["val_acc"]), notes)


METHOD = HaqMethod()
