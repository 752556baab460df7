"""OMPQ's ``QAT/quant_train.py``: HAWQ-V3 QAT on the ``hawq`` modules with OMPQ's changes (docs/ompq.md §2.2, §3.3).

``python -m ompq.QAT.quant_train -a resnet18 --epochs 90 --lr 0.0001 --batch_size 128 --data DIR --save_path OUT/
--act_range_momentum=0.99 --wd 1e-4 --data_percentage 1 --pretrained --fix_BN --checkpoint_iter -1
--quant_scheme modelsize_6.7_a6_75B``

Differences from HAWQ-V3's script, all kept: underscored flags; every activation quantizer whose bits are not 8
becomes asymmetric (so the 16-bit ``quant_act_int32`` ones too); the lr follows a per-iteration cosine from
``--lr`` to 0 over ``epochs × iterations`` without warm-up (set before every plain training step); the KD path
runs at the constant ``--lr`` (``--kd_cosine`` applies the cosine there as well); the schemes are OMPQ's five
(:mod:`ompq.QAT.bit_config`). Added: ``--bit_config FILE`` (the file the search writes), ``--device``,
``--amp``, ``--image_size``, ``--kd_reduction``, ``--teacher_checkpoint``, ``--data digits``.

Outputs in ``--save_path`` as HAWQ's entrypoint: ``log.log``, ``checkpoint.pth.tar``, ``model_best.pth.tar``,
``quantized_checkpoint.pth.tar``, ``bit_config.json``, ``args.json``, ``epochs.csv``, ``final.json``.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.bitconfig.ompq import read_for_arch
from common.runtime import (
    UsageError,
    add_threads_arg,
    load_checkpoint,
    run_main,
)
from common.runtime.compat_flags import warn_unused_flags
from common.runtime.runlog import add_logging_args
from hawq import quant_train as hawq_qt
from hawq.utils.checkpoints import load_float_state, load_quantized_state, state_dict_of
from hawq.utils.models import QLinearBottleneck, build_float_model, build_quantized_model, resolve_arch
from hawq.utils.quant_config import QuantSettings, bitconfig_module_bits, configure_quant_modules
from hawq.utils.quantization_utils.quant_modules import QuantAct
from ompq.QAT.bit_config import bit_config_dict

log = hawq_qt.log
#: the original's, the digits model, and the CIFAR ResNet-20 of the cross-method benchmark (an addition)
ARCHS = ("resnet18", "resnet50", "resnet50b", "resnet101", "mobilenetv2_w1", "tiny_resnet", "resnet20")


UNUSED_FLAGS = ("dist_url",)
"""Accepted for the original command lines, a warning when set."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ompq.QAT.quant_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", metavar="DIR", help="ImageFolder root with train/ and val/, or 'digits'")
    p.add_argument("-a", "--arch", default="resnet18", help=f"one of {', '.join(ARCHS)}")
    p.add_argument("--teacher_arch", default="resnet101")
    p.add_argument("-j", "--workers", type=int, default=4)
    p.add_argument("--epochs", type=int, default=90)
    p.add_argument("--start_epoch", type=int, default=0)
    p.add_argument("-b", "--batch_size", type=int, default=1, help="total batch size (the scripts use 128)")
    p.add_argument("--lr", "--learning_rate", dest="lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--wd", "--weight_decay", dest="weight_decay", type=float, default=1e-4)
    p.add_argument("-p", "--print_freq", type=int, default=10)
    p.add_argument("--resume", default="", metavar="PATH")
    p.add_argument("-e", "--evaluate", action="store_true")
    p.add_argument("--pretrained", action="store_true")
    p.add_argument("--world_size", type=int, default=-1, help="compatibility; torchrun sets the world")
    p.add_argument("--rank", type=int, default=-1, help="compatibility; torchrun sets the rank")
    p.add_argument("--dist_url", default="tcp://224.66.41.62:23456", help="compatibility")
    p.add_argument("--dist_backend", default="nccl")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--gpu", type=int, default=None)
    p.add_argument("--multiprocessing_distributed", action="store_true", help="use torchrun instead")
    p.add_argument("--act_range_momentum", type=float, default=-1)
    p.add_argument("--quant_mode", default="symmetric", choices=("symmetric", "asymmetric"), help="unused")
    p.add_argument("--save_path", default="checkpoints/imagenet/test/")
    p.add_argument("--data_percentage", type=float, default=1)
    p.add_argument("--fix_BN", action="store_true", help="fold BN with frozen statistics, train in eval mode")
    p.add_argument("--fix_BN_threshold", type=int, default=None)
    p.add_argument("--checkpoint_iter", type=int, default=-1, help="unused by the original")
    p.add_argument("--evaluate_times", type=int, default=-1, help="in-epoch validations (KD path)")
    p.add_argument("--quant_scheme", default="uniform4", help="key suffix: bit_config_<arch>_<quant_scheme>")
    p.add_argument("--resume_quantize", action="store_true")
    p.add_argument("--act_percentile", type=float, default=0)
    p.add_argument("--weight_percentile", type=float, default=0)
    p.add_argument(
        "--channel_wise", action="store_false", help="per-channel is ON by default; this turns it OFF"
    )
    p.add_argument("--bias_bit", type=int, default=32)
    p.add_argument("--distill_method", default="None", choices=("None", "KD_naive"))
    p.add_argument("--distill_alpha", type=float, default=0.95)
    p.add_argument("--temperature", type=float, default=6)
    p.add_argument("--fixed_point_quantization", action="store_true")
    new = p.add_argument_group("added by this reimplementation")
    new.add_argument(
        "--bit_config", type=Path, default=None, help="portable bit-config file (from the search)"
    )
    new.add_argument(
        "--compat",
        action="store_true",
        help="mobilenetv2_w1 only: OMPQ's scale bug (conv2 of each unit fed the unit input's scale, not quant_act1's)",
    )
    new.add_argument("--kd_cosine", action="store_true", help="fix: cosine lr in the KD path too")
    new.add_argument("--kd_reduction", default="mean", choices=("mean", "batchmean"))
    new.add_argument("--resume_by_position", action="store_true")
    new.add_argument("--teacher_checkpoint", default=None)
    new.add_argument("--image_size", type=int, default=None, help="default 224 (32 for digits)")
    new.add_argument("--device", default="auto")
    new.add_argument("--dali", action="store_true", help=hawq_qt.DALI_HELP)
    new.add_argument("--amp", default="none", choices=("none", "bf16", "fp16"))
    new.add_argument(
        "--round_folded_input", action="store_true", help="hawq.quant_train --round-folded-input"
    )
    new.add_argument("--float64_bn_stats", action="store_true", help="hawq.quant_train --float64-bn-stats")
    new.add_argument(
        "--compile", action="store_true", help="hawq.quant_train --compile (torch.compile of the model)"
    )
    new.add_argument("--compile_backend", default="inductor", help="hawq.quant_train --compile-backend")
    add_threads_arg(new)
    hawq_qt.add_ddp_sync_args(new, underscore=True)
    add_logging_args(p)
    return p


def scheme_bits(arch: str, scheme: str) -> dict[str, int]:
    """Module bits of ``bit_config_<arch>_<scheme>``; an unknown key is a :class:`UsageError`."""
    key = f"bit_config_{arch}_{scheme}"
    if key not in bit_config_dict:
        valid = [
            k[len(f"bit_config_{arch}_") :] for k in bit_config_dict if k.startswith(f"bit_config_{arch}_")
        ]
        hint = (
            f"valid for {arch}: {', '.join(valid)}" if valid else "or pass --bit_config FILE from the search"
        )
        raise UsageError(f"unknown --quant_scheme {scheme!r} for -a {arch}; {hint}")
    return dict(bit_config_dict[key])


def apply_ompq_modes(model: nn.Module, module_bits: dict[str, int]) -> int:
    """OMPQ's rule: every configured QuantAct whose bits are not 8 is asymmetric; returns how many changed."""
    n = 0
    for name, module in model.named_modules():
        if isinstance(module, QuantAct) and name in module_bits and module_bits[name] != 8:
            module.quant_mode = "asymmetric"
            n += 1
    return n


def build_model_for(args: argparse.Namespace, classes: int, size: int) -> tuple[nn.Module, list[str]]:
    """Float model → HAWQ wrapper → OMPQ bits (scheme or file) and settings → optional quantized resume."""
    notes: list[str] = []
    float_model = build_float_model(args.arch, classes, pretrained=bool(args.pretrained and not args.resume))
    if args.resume and not args.resume_quantize:
        n = load_float_state(
            float_model, state_dict_of(load_checkpoint(args.resume)), args.resume_by_position
        )
        notes.append(f"=> loaded {n} float tensors from '{args.resume}'")
    model = build_quantized_model(args.arch, float_model, input_size=size)
    for unit in model.modules():  # --compat: OMPQ's MobileNetV2 scale bug; off = the fix
        if isinstance(unit, QLinearBottleneck):
            unit.ompq_scale_bug = bool(args.compat)
    if args.bit_config is not None:
        cfg = read_for_arch(args.bit_config, args.arch)  # the search's mobilenet_v2 file fits mobilenetv2_w1
        bits = bitconfig_module_bits(cfg, model, (args.arch, resolve_arch(args.arch).float_name))
    else:
        bits = scheme_bits(args.arch, args.quant_scheme)
    settings = QuantSettings(
        bias_bit=args.bias_bit, channel_wise=args.channel_wise, act_percentile=args.act_percentile,
        act_range_momentum=args.act_range_momentum, weight_percentile=args.weight_percentile, fix_BN=args.fix_BN,
        fix_BN_threshold=args.fix_BN_threshold, checkpoint_iter=args.checkpoint_iter,
        fixed_point_quantization=args.fixed_point_quantization, round_folded_input=args.round_folded_input,
        float64_bn_stats=args.float64_bn_stats,
    )  # fmt: skip
    matched = configure_quant_modules(model, bits, settings)
    apply_ompq_modes(model, bits)
    notes.append(f"match all modules defined in bit_config: {matched == len(bits)}")
    if args.resume and args.resume_quantize:
        n, skipped = load_quantized_state(model, state_dict_of(load_checkpoint(args.resume)))
        notes.append(f"=> loaded {n} quantized tensors from '{args.resume}' ({len(skipped)} skipped)")
    return model, notes


def cosine_lr(base: float, step: int, total: int) -> float:
    """lr_t = ½·lr·(1 + cos(π·t/T)), t = epoch·iters + batch, T = epochs·iters."""
    return 0.5 * base * (1 + math.cos(math.pi * step / max(1, total)))


class CosineSteps:
    """Iterates a loader and sets the optimizer's lr to :func:`cosine_lr` before every batch it hands out."""

    def __init__(
        self,
        loader: Any,
        optimizer: torch.optim.Optimizer,
        base: float,
        epoch: int,
        epochs: int,
        first_batch: int = 0,
    ) -> None:
        self.loader, self.optimizer, self.base, self.epoch, self.epochs = (
            loader,
            optimizer,
            base,
            epoch,
            epochs,
        )
        self.first_batch = first_batch  # a mid-epoch resume: the loader skips the batches before it
        self.dataset = loader.dataset
        self.last_lr = base

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        iters = len(self.loader)
        for i, batch in enumerate(self.loader, start=self.first_batch):
            self.last_lr = cosine_lr(self.base, self.epoch * iters + i, self.epochs * iters)
            for group in self.optimizer.param_groups:
                group["lr"] = self.last_lr
            yield batch


def check_args(args: argparse.Namespace) -> None:
    if args.arch not in ARCHS:
        raise UsageError(f"unknown -a/--arch {args.arch!r}; choose one of: {', '.join(ARCHS)}")
    if args.bit_config is not None and not Path(args.bit_config).is_file():
        raise UsageError(f"--bit_config file not found: {args.bit_config}")
    if args.compat and args.arch != "mobilenetv2_w1":
        raise UsageError(
            f"--compat reproduces OMPQ's MobileNetV2 scale bug; it has no effect on -a {args.arch}"
        )
    hawq_qt.check_args(args, dash="_")
    if args.bit_config is None:
        scheme_bits(args.arch, args.quant_scheme)


def ompq_epoch_schedule(trainer: hawq_qt.Trainer, epoch: int) -> None:
    """Per-iteration cosine lr (§2.2); with KD the lr stays constant unless ``--kd_cosine`` (as the original)."""
    if trainer.teacher is None or trainer.args.kd_cosine:
        args = trainer.args
        trainer.train_loader = CosineSteps(
            trainer.train_loader, trainer.optimizer, args.lr, epoch, args.epochs, trainer.first_batch
        )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    warn_unused_flags(args, build_parser(), UNUSED_FLAGS, "torchrun's env:// rendezvous is used instead")
    check_args(args)
    try:
        return hawq_qt.run(
            args, build_model_for, ompq_epoch_schedule, method="ompq", conventions=("ompq", "hawq")
        )
    finally:
        logging.getLogger("hawq.quant_train").handlers.clear()


if __name__ == "__main__":
    run_main(main)
