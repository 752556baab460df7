"""HAWQ-V3 quantization-aware training and evaluation (the original ``quant_train.py``, ``docs/hawq.md`` §2.1, §3.8).

``python -m hawq.quant_train -a resnet18 --data DIR --pretrained --quant-scheme uniform8 --save-path runs/r18/ ...``

Every original flag keeps its name, default and meaning (including the traps: ``-b`` defaults to 1,
``--act-range-momentum`` to -1, and ``--channel-wise`` *disables* per-channel weights). Additions:

* ``--bit-config FILE``: the portable bit-config file instead of ``--quant-scheme``; ``--quant-scheme`` also takes
  the model-zoo aliases (``bops0.5``...);
* ``--kd-reduction batchmean`` (quirk 12), ``--resume-by-position`` (the original's key-order float resume; by name
  is the default, quirk 15), ``--teacher-checkpoint FILE``, ``--image-size``;
* ``--device``, ``--amp`` (quantized modules always compute in float32), ``--data digits`` (embedded data);
* ``--compile`` (``torch.compile`` of the model, ``--compile-backend``; the checkpoints hold the bare model's keys);
* ``--resume`` of a *float* checkpoint loads its weights only; the original also took its epoch counter and optimizer
  state (so a float checkpoint saved at epoch 90 trained nothing, or crashed without an ``optimizer`` entry);
* distributed training through ``torchrun`` (DDP; ``--world-size/--rank/--dist-url`` are read for compatibility
  and the environment of torchrun wins). The batch size is split across processes like the original's DDP path;
  BN statistics and activation ranges stay per rank (the original) unless ``--sync-bn`` / ``--sync-act-range``,
  with which a DDP run equals the one-process run on the same global batch to float precision;
* ``checkpoint.pth.tar`` also holds the generator states and BN-folding counters (and, written inside an epoch,
  ``resume_epoch``/``resume_batch``), so ``--resume ... --resume-quantize`` continues exactly.

Outputs in ``--save-path``: ``log.log``, ``checkpoint.pth.tar``, ``model_best.pth.tar``, ``quantized_checkpoint.pth.tar``
(rewritten by every validation, quirk 16), plus ``args.json``, ``epochs.csv``, ``final.json`` (with the bit config
as a portable file, ``bit_config.json``).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.bitconfig import BitConfig, LayerBits, write_bitconfig
from common.cost import evaluate_bitconfig
from common.cost.convention import CostError
from common.data import build_datasets, build_loaders, set_loader_epoch, share_weighted
from common.models import build_model
from common.models.weight_layouts import SOURCES, load_original
from common.runtime import (
    AverageMeter,
    RunLogger,
    UsageError,
    accuracy,
    add_threads_arg,
    autocast_context,
    choose_device,
    cleanup_distributed,
    gather_rng_states,
    init_distributed,
    load_checkpoint,
    progress,
    restore_rng_states,
    run_main,
    save_checkpoint,
    seed_everything,
    set_threads,
    unwrap_model,
    wrap_ddp,
)
from common.runtime.checks import (
    check_at_least,
    check_fraction,
    check_output_dir,
    check_positive,
    check_range,
    load_state_dict_checked,
)
from common.runtime.cli import set_resume_hint
from common.runtime.compat_flags import warn_unused_flags
from common.runtime.guard import LossGuard, check_finite
from common.runtime.runlog import add_logging_args
from hawq.utils.checkpoints import (
    load_float_state,
    load_quantized_state,
    quantized_checkpoint,
    state_dict_of,
    to_cpu,
)
from hawq.utils.distill import loss_kd
from hawq.utils.models import build_float_model, build_quantized_model, quantize_arch_dict, resolve_arch
from hawq.utils.quant_config import (
    QuantSettings,
    check_supported_bits,
    configure_quant_modules,
    freeze_model,
    read_module_bits,
    scheme_module_bits,
    set_ddp_sync,
    unfreeze_model,
)
from hawq.utils.quantization_utils.quant_modules import QuantBnConv2d

log = logging.getLogger("hawq.quant_train")
TEACHER_ARCHS = {
    "resnet101": "resnet101_v1",
    "resnet50": "resnet50_v1",
    "resnet101b": "resnet101",
    "inceptionv3": "inceptionv3_cv",
}
"""pytorchcv teacher name -> our model of its layout (others have the same name in both)."""


UNUSED_FLAGS = ("dist_url",)
"""Accepted for the original command lines, a warning when set."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hawq.quant_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", metavar="DIR", help="ImageFolder root with train/ and val/, or 'digits'")
    p.add_argument("-a", "--arch", default="resnet18", help=f"one of {', '.join(quantize_arch_dict)}")
    p.add_argument("--teacher-arch", default="resnet101", help="teacher model for KD")
    p.add_argument("-j", "--workers", type=int, default=4)
    p.add_argument("--epochs", type=int, default=90)
    p.add_argument("--start-epoch", type=int, default=0, help="overwritten on resume")
    p.add_argument("-b", "--batch-size", type=int, default=1, help="original default 1; the commands use 128")
    p.add_argument("--lr", "--learning-rate", dest="lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--wd", "--weight-decay", dest="weight_decay", type=float, default=1e-4)
    p.add_argument("-p", "--print-freq", type=int, default=10)
    p.add_argument("--resume", default="", metavar="PATH")
    p.add_argument("-e", "--evaluate", action="store_true", help="only run validation")
    p.add_argument("--pretrained", action="store_true", help="start from the published float weights")
    p.add_argument("--world-size", type=int, default=-1, help="compatibility; torchrun sets the world")
    p.add_argument("--rank", type=int, default=-1, help="compatibility; torchrun sets the rank")
    p.add_argument(
        "--dist-url", default="tcp://224.66.41.62:23456", help="compatibility (torchrun uses env://)"
    )
    p.add_argument("--dist-backend", default="nccl", help="process-group backend on CUDA (gloo on CPU)")
    p.add_argument("--multiprocessing-distributed", action="store_true", help="use torchrun instead")
    p.add_argument(
        "--seed", type=int, default=None, help="seeds everything, incl. the --data-percentage subset"
    )
    p.add_argument("--gpu", type=int, default=None, help="GPU id (same as --device cuda:N)")
    p.add_argument("--act-range-momentum", type=float, default=-1, help="-1: running min/max")
    p.add_argument("--quant-mode", default="symmetric", choices=("symmetric", "asymmetric"), help="unused")
    p.add_argument("--save-path", default="checkpoints/imagenet/test/", help="output folder")
    p.add_argument("--data-percentage", type=float, default=1, help="fraction of the train set")
    p.add_argument("--fix-BN", dest="fix_BN", action="store_true", help="fold BN with frozen statistics")
    p.add_argument("--fix-BN-threshold", dest="fix_BN_threshold", type=int, default=None)
    p.add_argument("--checkpoint-iter", type=int, default=-1, help="stored on the modules, otherwise unused")
    p.add_argument("--evaluate-times", type=int, default=-1, help="in-epoch validations (KD loop)")
    p.add_argument(
        "--quant-scheme", default="uniform4", help="shipped bit configuration (or model-zoo alias)"
    )
    p.add_argument("--resume-quantize", action="store_true", help="--resume is a quantized checkpoint")
    p.add_argument("--act-percentile", type=float, default=0)
    p.add_argument("--weight-percentile", type=float, default=0)
    p.add_argument(
        "--channel-wise",
        action="store_false",
        help="per-channel weights are ON by default; this turns them OFF",
    )
    p.add_argument("--bias-bit", type=int, default=32, help="0 disables bias quantization")
    p.add_argument("--distill-method", default="None", choices=("None", "KD_naive"))
    p.add_argument("--distill-alpha", type=float, default=0.95)
    p.add_argument("--temperature", type=float, default=6)
    p.add_argument("--fixed-point-quantization", action="store_true")
    new = p.add_argument_group("added by this reimplementation")
    new.add_argument("--bit-config", type=Path, default=None, help="portable bit-config file")
    new.add_argument("--kd-reduction", default="mean", choices=("mean", "batchmean"), help="KL reduction")
    new.add_argument(
        "--standard-bn",
        action="store_true",
        help="PyTorch BatchNorm statistics in unfolded-BN training (quirk 7)",
    )
    new.add_argument(
        "--round-folded-input",
        action="store_true",
        help="round x/s_in before every conv/linear (quirk 21 fixed): exact integer sums, the same on every CPU kernel",
    )
    new.add_argument(
        "--float64-bn-stats",
        action="store_true",
        help="unfolded-BN training: batch mean/variance reduced in float64 (independent of the kernel's order)",
    )
    new.add_argument(
        "--asymmetric-acts-below",
        type=int,
        default=0,
        metavar="N",
        help="activations below N bits use the unsigned asymmetric range (default 0: only 4-bit ones, as the original)",
    )
    new.add_argument("--resume-by-position", action="store_true", help="original key-order float resume")
    new.add_argument("--teacher-checkpoint", default=None, help="float weights of the teacher")
    new.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="default 224 (32 for digits); inceptionv3: 299 (75 for digits), at least 75",
    )
    new.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    new.add_argument("--dali", action="store_true", help=DALI_HELP)
    add_threads_arg(new)
    new.add_argument(
        "--amp", default="none", choices=("none", "bf16", "fp16"), help="autocast for the float ops"
    )
    new.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the model (train and eval are captured once each). On an H200 (bf16, batch 64) the "
        "Q-ResNet18 step went from 5.2x to 1.31x the float step after 94 s of compilation; on a 1-thread CPU it "
        "was slower than eager (benchmarks/README.md)",
    )
    new.add_argument(
        "--compile-backend",
        default="inductor",
        help="torch.compile backend of --compile (inductor, eager, ...)",
    )
    add_ddp_sync_args(new)
    add_logging_args(p)
    return p


def add_ddp_sync_args(group: Any, underscore: bool = False) -> None:
    """``--sync-bn`` and ``--sync-act-range`` (also spelt with underscores where the parser is ``--like_this``)."""

    def names(flag: str) -> list[str]:
        return [flag, flag.replace("-", "_").replace("__", "--")] if underscore else [flag]

    group.add_argument(
        *names("--sync-bn"),
        dest="sync_bn",
        action="store_true",
        help="DDP: unfolded-BN batch statistics over all ranks (default: per rank, as the original)",
    )
    group.add_argument(
        *names("--sync-act-range"),
        dest="sync_act_range",
        action="store_true",
        help="DDP: activation ranges from the min/max over all ranks (default: each rank's own batch)",
    )


# ---------------------------------------------------------------------------------------------------------------
# setup


def check_args(args: argparse.Namespace, dash: str = "-") -> None:
    """Bad flags as one-line :class:`UsageError` before anything is written (``dash``: OMPQ spells ``--like_this``)."""

    def flag(name: str) -> str:
        return "--" + name.replace("-", dash)

    if not args.data:
        raise UsageError("--data is required (an ImageFolder root with train/ and val/, or 'digits')")
    if args.multiprocessing_distributed:
        raise UsageError("--multiprocessing-distributed: launch with `torchrun --nproc_per_node N` instead")
    check_fraction(flag("data-percentage"), args.data_percentage)
    check_at_least("-b/" + flag("batch-size"), args.batch_size, 1)
    check_at_least(flag("epochs"), args.epochs, 0)
    check_at_least(flag("start-epoch"), args.start_epoch, 0)
    check_at_least("-j/--workers", args.workers, 0)
    check_at_least("-p/" + flag("print-freq"), args.print_freq, 1)
    check_positive(flag("lr"), args.lr)
    check_at_least(flag("momentum"), args.momentum, 0)
    check_at_least("--wd", args.weight_decay, 0)
    check_range(flag("distill-alpha"), args.distill_alpha, 0, 1)
    check_positive(flag("temperature"), args.temperature)
    if args.image_size is not None:
        check_at_least(flag("image-size"), args.image_size, 75 if args.arch == "inceptionv3" else 8)
    check_output_dir(flag("save-path"), args.save_path)
    if args.bias_bit == 0:
        raise UsageError(
            "--bias-bit 0 (no bias quantization) is not supported: folded BN and the classifier need an integer "
            "bias (the original crashes too, quirk 5)"
        )
    below = getattr(args, "asymmetric_acts_below", 0)  # OMPQ's QAT shares this check and lacks the flag
    if not 0 <= below <= 16:
        raise UsageError(f"--asymmetric-acts-below must be in 0..16, got {below}")
    if args.resume_quantize and not args.resume:
        raise UsageError("--resume-quantize needs --resume PATH")
    if args.resume and not Path(args.resume).is_file():
        raise UsageError(f"--resume file not found: {args.resume}")
    resolve_arch(args.arch)


#: ``--dali``'s help (HAWQ-V3's and OMPQ's QAT)
DALI_HELP = (
    "read the ImageFolder root --data with NVIDIA DALI (GPU decoding with --device cuda; pip install -e "
    "'.[dali]'): its own order and augmentation, not the seeded torchvision stream (common/data/dali.py)"
)


def build_data(
    args: argparse.Namespace, world: int, device: torch.device | None = None, rank: int = 0
) -> tuple[Any, Any, int, int]:
    digits = str(args.data) in ("digits", "synthetic")
    inception = args.arch == "inceptionv3"  # HAWQ-V3: 299 crops, eval Resize(342) (§4.5)
    size = args.image_size or ((75 if inception else 32) if digits else (299 if inception else 224))
    preset = "digits" if digits else ("inception" if inception else "imagenet")
    if getattr(args, "dali", False):
        from common.data.dali import build_dali_loaders, check_dali_data

        check_dali_data(args.data)
        if args.data_percentage != 1:
            raise UsageError("--dali reads the whole training set; --data-percentage must be 1")
        per_rank = max(1, int(args.batch_size / world))
        train_loader, val_loader = build_dali_loaders(
            args.data, preset=preset, image_size=size, batch_size=per_rank, threads=args.workers,
            device=device or torch.device("cpu"), seed=args.seed or 0, rank=rank, world=world,
        )  # fmt: skip
        return train_loader, val_loader, len(train_loader.dataset.classes), size
    train_ds, val_ds, classes = build_datasets(
        args.data, preset=preset, image_size=size, train_fraction=args.data_percentage, seed=args.seed
    )
    per_rank = max(1, int(args.batch_size / world))
    workers = int((args.workers + world - 1) / world)
    train_loader, val_loader = build_loaders(
        train_ds,
        val_ds,
        per_rank,
        workers,
        distributed=world > 1,
        seed=args.seed or 0,
        val_batch_size=per_rank,
    )
    return train_loader, val_loader, classes, size


def build_model_for(args: argparse.Namespace, classes: int, size: int) -> tuple[nn.Module, list[str]]:
    """Float model (pretrained / float resume) -> quantized wrapper -> bits and settings -> quantized resume.

    Returns the model and the log lines of these steps (logged once the run's log file exists).
    """
    notes: list[str] = []
    float_model = build_float_model(args.arch, classes, pretrained=bool(args.pretrained and not args.resume))
    if args.resume and not args.resume_quantize:
        state = state_dict_of(load_checkpoint(args.resume))
        n = load_float_state(float_model, state, by_position=args.resume_by_position)
        notes.append(f"=> loaded {n} float tensors from '{args.resume}'")
    model = build_quantized_model(args.arch, float_model, input_size=size)
    if args.bit_config is not None:
        names = (args.arch, resolve_arch(args.arch).float_name)
        module_bits = read_module_bits(args.bit_config, model, names)
    else:
        module_bits = scheme_module_bits(args.arch, args.quant_scheme, model)
    settings = QuantSettings(
        bias_bit=args.bias_bit,
        channel_wise=args.channel_wise,
        act_percentile=args.act_percentile,
        act_range_momentum=args.act_range_momentum,
        weight_percentile=args.weight_percentile,
        fix_BN=args.fix_BN,
        fix_BN_threshold=args.fix_BN_threshold,
        checkpoint_iter=args.checkpoint_iter,
        fixed_point_quantization=args.fixed_point_quantization,
        standard_bn=args.standard_bn,
        round_folded_input=args.round_folded_input,
        float64_bn_stats=args.float64_bn_stats,
        asymmetric_acts_below=args.asymmetric_acts_below,
    )
    matched = configure_quant_modules(model, module_bits, settings)
    notes.append(f"match all modules defined in bit_config: {matched == len(module_bits)}")
    if args.resume and args.resume_quantize:
        state = state_dict_of(load_checkpoint(args.resume))
        n, skipped = load_quantized_state(model, state)
        notes.append(f"=> loaded {n} quantized tensors from '{args.resume}' ({len(skipped)} skipped)")
    return model, notes


def build_teacher(args: argparse.Namespace, classes: int) -> nn.Module | None:
    if args.distill_method == "None":
        return None
    name = TEACHER_ARCHS.get(args.teacher_arch, args.teacher_arch)
    teacher = build_model(name, classes)
    if args.teacher_checkpoint:
        state = state_dict_of(load_checkpoint(args.teacher_checkpoint))
        load_state_dict_checked(teacher, state, f"--teacher-checkpoint {args.teacher_checkpoint}")
    elif args.pretrained:
        load_teacher_weights(teacher, args.teacher_arch, classes)
    else:
        print(
            f"warning: the KD teacher {args.teacher_arch} keeps its random initialisation; pass --pretrained "
            "(pytorchcv's file) or --teacher-checkpoint FILE for a trained one",
            file=sys.stderr,
        )
    return teacher.eval()


def load_teacher_weights(teacher: nn.Module, teacher_arch: str, classes: int) -> None:
    """Load pytorchcv's ImageNet weights of ``teacher_arch`` into ``teacher``, as the original's teacher
    (``get_model(teacher_arch, pretrained=True)``): ``$MPQ_WEIGHTS_DIR/pytorchcv/<arch>.pth``, renamed to our
    module names. A missing file, an arch without a pytorchcv file or a data set of another class count than
    ImageNet's 1000 is a one-line :class:`UsageError` saying what to do; nothing else stands in for it."""
    source = SOURCES.get(("pytorchcv", teacher_arch))
    if source is None:
        known = ", ".join(a for o, a in SOURCES if o == "pytorchcv")
        raise UsageError(
            f"--teacher-arch {teacher_arch} has no published pytorchcv weights (known: {known}); "
            "give --teacher-checkpoint FILE"
        )
    if classes != 1000:
        raise UsageError(
            f"pytorchcv's {teacher_arch} is a 1000-class ImageNet teacher but the data has {classes} classes; "
            "give --teacher-checkpoint FILE trained on this data"
        )
    if not source.path().is_file():
        raise UsageError(source.missing_message())
    load_original(teacher, source)


def portable_bitconfig(model: nn.Module, args: argparse.Namespace, classes: int, size: int) -> BitConfig:
    """The bits the run trained with, as the portable file (layer names of ``common.layers``)."""
    modules = dict(model.named_modules())
    layers = {
        layer: LayerBits(int(modules[w].weight_bit), int(modules[a].activation_bit))
        for layer, (w, a) in model.layer_map.items()
    }
    source = str(args.bit_config) if args.bit_config else f"bit_config_{args.arch}_{args.quant_scheme}"
    return BitConfig(
        arch=resolve_arch(args.arch).float_name,
        layers=layers,
        method="hawq",
        source=source,
        num_classes=classes,
        input_size=size,
    )


# ---------------------------------------------------------------------------------------------------------------
# the loops


def adjust_learning_rate(optimizer: torch.optim.Optimizer, epoch: int, lr: float) -> float:
    """``lr · 0.1^(epoch // 30)`` at every epoch start (§3.8)."""
    value = lr * (0.1 ** (epoch // 30))
    for group in optimizer.param_groups:
        group["lr"] = value
    return value


class Trainer:
    """Holds what the loops share: model, teacher, optimizer, loaders, device and the run's records."""

    def __init__(
        self, args, model, teacher, optimizer, train_loader, val_loader, device, dist, logger
    ) -> None:
        self.args, self.model, self.teacher, self.optimizer = args, model, teacher, optimizer
        self.train_loader, self.val_loader = train_loader, val_loader
        self.device, self.dist, self.logger = device, dist, logger
        self.criterion = nn.CrossEntropyLoss()
        self.best_acc1 = 0.0
        self.save_path = Path(args.save_path)
        self.guard = LossGuard(checkpoint=self.save_path / "checkpoint.pth.tar")  # NaN/inf losses (no sync)
        self.amp = args.amp != "none"
        self.first_batch = 0  # batches of the current epoch done before a mid-epoch resume

    def _set_train_mode(self) -> None:
        # --fix-BN trains in eval mode (BN folded with frozen statistics); QuantAct ranges still move
        if self.args.fix_BN:
            self.model.eval()
        else:
            self.model.train()

    def train_epoch(self, epoch: int, first_batch: int = 0) -> dict[str, float]:
        """One epoch; ``first_batch`` > 0 continues one that a mid-epoch checkpoint interrupted (the loader
        already skips the batches before it)."""
        args = self.args
        self._set_train_mode()
        losses, top1, top5 = AverageMeter("Loss"), AverageMeter("Acc@1"), AverageMeter("Acc@5")
        n_batches = len(self.train_loader)
        period = 0
        if self.teacher is not None and args.evaluate_times > 0:
            period = len(self.train_loader.dataset) // (args.batch_size * args.evaluate_times) + 2
        batches = progress(self.train_loader, desc=f"Epoch [{epoch}]")
        for i, (images, target) in enumerate(batches, start=first_batch):
            images, target = images.to(self.device), target.to(self.device)
            with autocast_context(self.device, self.amp, args.amp):
                output = self.model(images).float()
            if self.teacher is not None:
                with torch.no_grad(), autocast_context(self.device, self.amp, args.amp):
                    teacher_output = self.teacher(images).float()
                loss = loss_kd(
                    output, target, teacher_output, args.distill_alpha, args.temperature, args.kd_reduction
                )
            else:
                loss = self.criterion(output, target)
            k = min(5, output.shape[1])
            acc1, acc5 = accuracy(output.detach(), target, topk=(1, k))
            losses.update(loss.detach(), images.size(0))
            self.guard.observe(loss, epoch=epoch, step=i)
            top1.update(acc1, images.size(0))
            top5.update(acc5, images.size(0))
            self.optimizer.zero_grad(set_to_none=True)
            # weighted on an uneven DDP split's last step
            share_weighted(loss, self.train_loader, i).backward()
            self.optimizer.step()
            if i % args.print_freq == 0:
                self.guard.check()  # the log line below syncs anyway
                log.info(
                    "Epoch: [%d][%d/%d]\tLoss %.4e (%.4e)\tAcc@1 %.2f (%.2f)",
                    epoch, i, n_batches, losses.val, losses.avg, top1.val, top1.avg,
                )  # fmt: skip
            if period and i > 0 and i % period == 0:
                self.guard.check()
                acc = self.validate()
                self._set_train_mode()
                self.save(epoch, acc, batches_done=i + 1)
        self.guard.check()  # before validate() and save() can write this epoch's weights
        return {"train_loss": losses.avg, "train_acc1": top1.avg, "train_acc5": top5.avg}

    @torch.no_grad()
    def validate(self) -> float:
        """Freeze (ranges fixed, BN folded), evaluate the whole val set, write quantized_checkpoint, unfreeze."""
        model = unwrap_model(self.model)
        freeze_model(model)
        self.model.eval()
        losses, top1, top5 = AverageMeter("Loss"), AverageMeter("Acc@1"), AverageMeter("Acc@5")
        for images, target in progress(self.val_loader, desc="Test"):
            images, target = images.to(self.device), target.to(self.device)
            with autocast_context(self.device, self.amp, self.args.amp):
                output = self.model(images).float()
            k = min(5, output.shape[1])
            acc1, acc5 = accuracy(output, target, topk=(1, k))
            losses.update(self.criterion(output, target), images.size(0))
            top1.update(acc1, images.size(0))
            top5.update(acc5, images.size(0))
        log.info(" * Acc@1 %.3f Acc@5 %.3f", top1.avg, top5.avg)
        check_finite(losses.avg, what="validation loss", checkpoint=self.save_path / "checkpoint.pth.tar")
        if self.dist.is_main:
            save_checkpoint(
                to_cpu(quantized_checkpoint(model)), self.save_path / "quantized_checkpoint.pth.tar"
            )
        unfreeze_model(model)
        self.last_val = {"val_loss": losses.avg, "val_acc1": top1.avg, "val_acc5": top5.avg}
        return top1.avg

    def save(self, epoch: int, acc1: float, batches_done: int = 0) -> None:
        """``checkpoint.pth.tar`` (and ``model_best.pth.tar``) after ``epoch``, or after ``batches_done`` of its
        batches. Beyond the original's entries: every rank's generator states (``rng``), the BN-folding
        counters (``bn_counters``) and, mid-epoch, ``resume_epoch``/``resume_batch`` (``epoch`` keeps the
        original's ``epoch + 1``), so ``--resume ... --resume-quantize`` continues exactly."""
        is_best = acc1 > self.best_acc1
        self.best_acc1 = max(acc1, self.best_acc1)
        rng = gather_rng_states()  # a collective: every rank takes part
        if not self.dist.is_main:
            return
        bare = unwrap_model(self.model)
        state = {
            "epoch": epoch + 1,
            "arch": self.args.arch,
            "state_dict": to_cpu(bare.state_dict()),
            "best_acc1": torch.tensor(self.best_acc1),
            "optimizer": self.optimizer.state_dict(),
            "rng": rng,
            "bn_counters": {
                n: int(m.counter) for n, m in bare.named_modules() if isinstance(m, QuantBnConv2d)
            },
        }
        if batches_done:
            state.update({"resume_epoch": epoch, "resume_batch": batches_done})
        save_checkpoint(state, self.save_path / "checkpoint.pth.tar", is_best=is_best)


def _restore_training_state(
    args: argparse.Namespace, optimizer: torch.optim.Optimizer
) -> tuple[float, dict[str, Any]]:
    """Epoch, best accuracy and optimizer from ``--resume`` (whenever the file has them), and the checkpoint.

    A mid-epoch checkpoint (``resume_epoch``/``resume_batch``) resumes inside its epoch.
    """
    checkpoint = load_checkpoint(args.resume)
    if not isinstance(checkpoint, dict):
        return 0.0, {}
    if "epoch" in checkpoint:
        args.start_epoch = int(checkpoint["epoch"])
    if "resume_batch" in checkpoint:
        args.start_epoch = int(checkpoint["resume_epoch"])
    best = float(checkpoint.get("best_acc1", 0.0))
    if "optimizer" in checkpoint:
        try:
            optimizer.load_state_dict(checkpoint["optimizer"])
        except (ValueError, KeyError) as exc:
            log.warning("optimizer state of '%s' not restored: %s", args.resume, exc)
    log.info("=> resumed meta information from '%s' (epoch %d)", args.resume, args.start_epoch)
    return best, checkpoint


def _restore_run_state(model: nn.Module, checkpoint: dict[str, Any], dist: Any) -> int:
    """Generator states and BN-folding counters of a checkpoint written by :meth:`Trainer.save`; returns the
    batches of ``start_epoch`` already done (0 at an epoch boundary)."""
    if "rng" in checkpoint and not restore_rng_states(checkpoint["rng"], dist.rank, dist.world_size):
        log.warning("the checkpoint's generator states are from another number of processes: not restored")
    counters = checkpoint.get("bn_counters", {})
    for name, module in unwrap_model(model).named_modules():
        if isinstance(module, QuantBnConv2d) and name in counters:
            module.counter.fill_(int(counters[name]))
    return int(checkpoint.get("resume_batch", 0))


def _setup_log(logger: RunLogger | None) -> None:
    """The original's ``log.log`` is the run's one log file: ``log`` writes into ``logger``'s file.

    ``None`` (at the end of a run) only drops the handlers again.
    """
    for handler in list(log.handlers):
        log.removeHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    if logger is not None:
        logger.attach(log)


def hawq_epoch_schedule(trainer: Trainer, epoch: int) -> None:
    """HAWQ-V3's step schedule (§3.8): ``lr · 0.1^(epoch // 30)`` set at every epoch start."""
    adjust_learning_rate(trainer.optimizer, epoch, trainer.args.lr)


def run(
    args: argparse.Namespace,
    build_model: Callable[[argparse.Namespace, int, int], tuple[nn.Module, list[str]]] = build_model_for,
    epoch_schedule: Callable[[Trainer, int], None] = hawq_epoch_schedule,
    method: str = "hawq",
    conventions: Sequence[str] = ("hawq",),
) -> dict[str, Any]:
    """The QAT / evaluation run shared by HAWQ-V3 and OMPQ's variant of it (checked ``args``).

    ``build_model`` makes the configured quantized model (default :func:`build_model_for`), ``epoch_schedule``
    sets the learning rate before each epoch (it may also wrap ``trainer.train_loader``), ``method`` and the first
    applicable cost ``conventions`` label the portable bit-config file the run writes.
    """
    set_threads(getattr(args, "threads", 0))
    dist = init_distributed(backend=None if args.dist_backend == "nccl" else args.dist_backend)
    device = choose_device(
        f"cuda:{args.gpu}" if args.gpu is not None and args.device == "auto" else args.device
    )
    if args.seed is not None:
        seed_everything(args.seed, dist.rank, deterministic=True)
    train_loader, val_loader, classes, size = build_data(args, dist.world_size, device, dist.rank)
    model, notes = build_model(args, classes, size)
    check_supported_bits(model)
    set_ddp_sync(model, getattr(args, "sync_bn", False), getattr(args, "sync_act_range", False))
    teacher = build_teacher(args, classes)
    logger = RunLogger(args.save_path, args, log_name="log.log", enabled=dist.is_main)
    _setup_log(logger)
    log.info("%s", vars(args))
    for note in notes:
        log.info("%s", note)
    model = wrap_ddp(model.to(device), device, dist)
    if args.compile:
        model = torch.compile(model, backend=args.compile_backend)
    if teacher is not None:
        teacher = teacher.to(device)
    optimizer = torch.optim.SGD(
        model.parameters(), args.lr, momentum=args.momentum, weight_decay=args.weight_decay
    )
    trainer = Trainer(args, model, teacher, optimizer, train_loader, val_loader, device, dist, logger)
    last = Path(args.save_path) / "checkpoint.pth.tar"
    set_resume_hint(f"--resume {last} --resume{'_' if method == 'ompq' else '-'}quantize", last)
    resumed: dict[str, Any] = {}
    if args.resume and args.resume_quantize:
        # a float checkpoint's epoch and optimizer belong to another run: only a QAT checkpoint resumes them
        trainer.best_acc1, resumed = _restore_training_state(args, optimizer)
    cfg = portable_bitconfig(unwrap_model(model), args, classes, size)
    cfg.method = method
    cfg.costs = _costs(cfg, conventions)
    if dist.is_main:
        write_bitconfig(cfg, Path(args.save_path) / "bit_config.json")
    started = time.perf_counter()
    if args.evaluate:
        acc1 = trainer.validate()
        result = {"arch": args.arch, "val_acc1": acc1, **trainer.last_val}
    else:
        first_batch = _restore_run_state(model, resumed, dist) if resumed else 0
        for epoch in range(args.start_epoch, args.epochs):
            set_loader_epoch(train_loader, epoch, skip_batches=first_batch)
            trainer.train_loader = train_loader
            trainer.first_batch = first_batch
            epoch_schedule(trainer, epoch)
            row = {"epoch": epoch, **trainer.train_epoch(epoch, first_batch)}
            first_batch = 0
            row["lr"] = optimizer.param_groups[0]["lr"]
            acc1 = trainer.validate()
            trainer.save(epoch, acc1)
            row.update(trainer.last_val)
            logger.log_epoch(row, step=epoch + 1)
            log.info("Best acc at epoch %d: %.3f (lr %.3e)", epoch, trainer.best_acc1, row["lr"])
        result = {"arch": args.arch, "best_acc1": trainer.best_acc1, **getattr(trainer, "last_val", {})}
    result.update(
        {
            "quant_scheme": None if args.bit_config else args.quant_scheme,
            "bit_config": str(Path(args.save_path) / "bit_config.json"),
            "costs": cfg.costs,
            "wall_s": time.perf_counter() - started,
        }
    )
    result = {k: (float(v) if isinstance(v, torch.Tensor) else v) for k, v in result.items()}
    if math.isnan(float(result.get("val_acc1", 0.0))):
        log.warning("validation accuracy is NaN")
    logger.finalize(result)
    logger.close()
    _setup_log(None)
    cleanup_distributed()
    return result


def _costs(cfg: BitConfig, conventions: Sequence[str]) -> dict[str, float]:
    """Totals under the first of ``conventions`` that covers the architecture."""
    for name in conventions[:-1]:
        try:
            return dict(evaluate_bitconfig(cfg, name).totals)
        except CostError:
            continue
    return dict(evaluate_bitconfig(cfg, conventions[-1]).totals)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    warn_unused_flags(args, build_parser(), UNUSED_FLAGS, "torchrun's env:// rendezvous is used instead")
    check_args(args)
    return run(args)


if __name__ == "__main__":
    run_main(main)
