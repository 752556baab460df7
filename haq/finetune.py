"""Fine-tune (or evaluate) a network quantized with a fixed HAQ strategy (docs/haq.md sections 2.2 and 3.8).

K-means (default): ``python -m haq.finetune -a resnet50 -c checkpoints/resnet50 --epochs 100 --lr 0.01 --pretrained``
clusters every layer with the README's 10x strategy and trains with the per-step projection. Linear:
``python -m haq.finetune -a qmobilenetv2 --linear_quantization --pretrained ...`` calibrates and trains the
README's 0.6x-latency MobileNetV2. The original pasted strategies into the script; here they are named presets
(``--strategy resnet50_kmeans_readme | resnet50_kmeans_finetune_py | mobilenetv2_linear_0.6``), a JSON list
(``--strategy "[6,5,...]"``) or a bit-config file from a search (``--bit-config FILE``). ``-e`` evaluates
``--resume``, which may be one of the original's released checkpoints.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from common.bitconfig import write_bitconfig
from common.data import build_datasets, build_loaders
from common.runtime import (
    DistInfo,
    RunLogger,
    UsageError,
    add_local_rank_arg,
    add_sync_bn_arg,
    add_threads_arg,
    apply_local_rank_flag,
    check_at_least,
    check_output_dir,
    check_positive,
    check_state_dict_fits,
    choose_device,
    cleanup_distributed,
    get_world_size,
    init_distributed,
    require_checkpoint,
    run_main,
    seed_everything,
    set_resume_hint,
    set_threads,
    wrap_ddp,
)
from common.runtime.ddp_sync import all_gather_rows, convert_sync_batchnorm
from common.runtime.runlog import add_logging_args
from haq import strategies
from haq.lib.utils.bitconfig_io import layer_names, strategy_from_bitconfig, strategy_to_bitconfig
from haq.lib.utils.data_utils import DATASET_CLASSES, cifar_root
from haq.lib.utils.fit import fit
from haq.lib.utils.kmeans import kmeans_update_model, quantize_model
from haq.lib.utils.linear_quant import QUANT_TYPES, calibrate, set_bits
from haq.lib.utils.train import evaluate
from haq.models import (
    ArchError,
    build_haq_model,
    input_size_of,
    is_quantized_arch,
    load_released,
    read_released_state_dict,
)
from haq.rl_quantize import KMEANS_TYPES, str2bool

PRESETS: dict[str, tuple[str, list]] = {
    "resnet50_kmeans_readme": ("resnet50", list(strategies.RESNET50_KMEANS_README)),
    "resnet50_kmeans_finetune_py": ("resnet50", list(strategies.RESNET50_KMEANS_FINETUNE_PY)),
    "mobilenetv2_linear_0.6": ("mobilenetv2", [list(p) for p in strategies.MOBILENETV2_LINEAR_0_6]),
}
DATA_CLASSES = {**DATASET_CLASSES, "synthetic": 10}


def add_training_args(p: argparse.ArgumentParser, wd_default: float, arch_default: str) -> None:
    """Flags ``finetune.py`` and ``pretrain.py`` share, with the original names and defaults."""
    a = p.add_argument
    a("-d", "--data", default="data/imagenet", type=str, help="dataset folder, or 'digits'")
    a(
        "--data_name",
        default="imagenet",
        type=str,
        help="imagenet, imagenet100, imagenet10, digits or cifar10",
    )
    a(
        "--image_size",
        default=None,
        type=int,
        help="image side (addition; default: 224, 299 for Inception, 32 on cifar10, the arch's side on digits)",
    )
    a("-j", "--workers", default=16, type=int, help="data-loader workers")
    a("--epochs", default=100, type=int)
    a("--start_epoch", default=0, type=int)
    a("--warmup_epoch", default=0, type=int, help="epochs before this one use lr*gamma")
    a("--train_batch", default=256, type=int, help="batch size of train and (as in the original) val")
    a(
        "--test_batch",
        default=512,
        type=int,
        help="kept from the original; --honour_test_batch uses it for val",
    )
    a("--lr", "--learning-rate", default=0.1, type=float)
    a("--lr_type", default="cos", type=str, help="cos, exp, or anything else for the step schedule")
    a("--schedule", type=int, nargs="+", default=[31, 61, 91], help="step epochs")
    a("--gamma", type=float, default=0.1, help="step / warm-up factor")
    a("--momentum", default=0.9, type=float)
    a("--weight-decay", "--wd", default=wd_default, type=float, dest="weight_decay")
    a("-c", "--checkpoint", default="checkpoint", type=str, help="output folder")
    a("--resume", default="", type=str, help="checkpoint to resume or evaluate")
    a("--pretrained", action="store_true", help="start from the published float weights")
    a("--half", action="store_true", help="bf16 autocast (the original used apex O1)")
    a(
        "--half_type",
        default="O1",
        type=str,
        help="apex opt level with --half: O1 = mixed-precision autocast (bf16 here), O0 = float32; "
        "O2/O3 (pure half) are refused",
    )
    a("--arch", "-a", metavar="ARCH", default=arch_default)
    a("--manualSeed", type=int, default=None, help="seed (random when not given, as the original)")
    a("-e", "--evaluate", dest="evaluate", action="store_true", help="evaluate only")
    a("--gpu_id", default=None, type=str, help="CUDA_VISIBLE_DEVICES (default: all visible devices)")
    g = p.add_argument_group("options beyond the original")
    g.add_argument("--device", default="auto")
    add_threads_arg(g)
    g.add_argument("--honour_test_batch", action="store_true", help="use --test_batch for the val loader")
    g.add_argument("--weights", default=None, help="float weights file for --pretrained (default: published)")
    d = p.add_argument_group("distributed (torchrun; --train_batch is then per process)")
    add_sync_bn_arg(d)
    add_local_rank_arg(d, first="--local-rank")


def join_distributed(args: argparse.Namespace) -> DistInfo:
    """Join the torchrun process group (a no-op in one process) and make ``--manualSeed`` the same on every rank.

    Under DDP every rank reads its share of one global order (``W`` processes with ``--train_batch b``
    step through the batches one process with ``W*b`` takes), gradients are averaged by DDP and only rank 0
    logs and writes files. BatchNorm normalises with each rank's share, as the original's DataParallel did,
    unless ``--sync-bn``; with it a DDP run equals the one-process run with the ``W``-fold batch.
    """
    info = init_distributed()
    if args.manualSeed is None:
        args.manualSeed = random.randint(1, 10000)
    if info.distributed:
        seed = [args.manualSeed]
        torch.distributed.broadcast_object_list(seed, src=0)  # a random seed must be rank 0's everywhere
        args.manualSeed = seed[0]
    return info


def prepare_ddp(
    model: nn.Module, args: argparse.Namespace, device: torch.device, info: DistInfo
) -> nn.Module:
    """``--sync-bn`` conversion, then the DDP wrap (the bare model when not distributed)."""
    if args.sync_bn:  # in one process too: the same float64 statistics make it the exact reference
        model, _ = convert_sync_batchnorm(model, device)
    return wrap_ddp(model, device, info)


def check_training_args(args: argparse.Namespace) -> Path:
    """Flags of :func:`add_training_args` as one-line errors before anything runs; returns the output folder.

    The output folder is ``-c/--checkpoint``, or the folder of ``--resume`` when a run is resumed (as the
    original). ``--epochs`` must be >= 1 unless ``-e`` only evaluates.
    """
    check_at_least("--epochs", args.epochs, 0 if args.evaluate else 1)
    check_at_least("--start_epoch", args.start_epoch, 0)
    check_at_least("--warmup_epoch", args.warmup_epoch, 0)
    check_at_least("--train_batch", args.train_batch, 1)
    check_at_least("--test_batch", args.test_batch, 1)
    check_at_least("-j/--workers", args.workers, 0)
    check_positive("--lr", args.lr)
    check_positive("--gamma", args.gamma)
    check_at_least("--momentum", args.momentum, 0)
    check_at_least("--wd", args.weight_decay, 0)
    if args.resume and not args.evaluate:
        return check_output_dir("--resume's folder", Path(args.resume).parent)
    return check_output_dir("-c/--checkpoint", args.checkpoint)


def load_resume_weights(model: nn.Module, args: argparse.Namespace) -> dict:
    """``--resume`` into ``model`` (non-strictly, as the original); returns the whole checkpoint when training resumes.

    Another architecture's tensors, and a bare state dict where a training run resumes (it needs ``epoch``
    and ``state_dict``), are one-line errors naming the file.
    """
    state = read_released_state_dict(args.resume)
    check_state_dict_fits(model, state, f"--resume {args.resume}")
    full = (
        {}
        if args.evaluate
        else require_checkpoint(load_released(args.resume), args.resume, ("state_dict", "epoch"))
    )
    model.load_state_dict(state, strict=False)
    return dict(full)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m haq.finetune", description=__doc__.split("\n\n")[0])
    add_training_args(p, 1e-5, "resnet50")
    p.add_argument(
        "--linear_quantization", action="store_true", help="linear quantization (qmobilenetv2 etc.)"
    )
    p.add_argument("--free_high_bit", default=True, type=str2bool, help="leave >64-centroid layers free")
    g = p.add_argument_group("strategy (the original hard-coded it)")
    g.add_argument("--strategy", default=None, help=f"preset ({', '.join(PRESETS)}) or a JSON list")
    g.add_argument(
        "--bit-config", "--bit_config", dest="bit_config", default=None, type=Path, help="bit-config file"
    )
    add_logging_args(p)
    return p


def make_loaders(args: argparse.Namespace, arch: str) -> tuple[DataLoader, DataLoader, int]:
    """Full train/val loaders and the number of classes: ImageNet transforms at 224 (299 for Inception), digits at
    the arch's side, or (``--data_name cifar10`` or ``--data cifar10:PATH``, an addition) CIFAR transforms at 32;
    ``--image_size`` replaces the side.

    ``--data digits`` with the default ``--data_name imagenet`` takes the embedded data's 10 classes (it used to
    build a 1000-class head and drop the classifier weights); a ``--data_name`` whose class count differs from
    the data's is an error instead of a silently wrong head.
    """
    if args.data_name not in DATA_CLASSES:
        raise UsageError(f"unknown --data_name {args.data_name!r}; choose from {', '.join(DATA_CLASSES)}")
    if args.image_size is not None and args.image_size < 8:
        raise UsageError(f"--image_size must be >= 8, got {args.image_size}")
    embedded = args.data if args.data in ("digits", "synthetic") else "digits"
    digits = args.data in ("digits", "synthetic") or args.data_name in ("digits", "synthetic")
    cifar = not digits and (args.data_name == "cifar10" or args.data.startswith("cifar10:"))
    if digits:
        data, preset, size = embedded, "digits", input_size_of(arch)
    elif cifar:
        data, preset, size = cifar_root(args.data), "cifar", 32
    else:
        data, preset, size = args.data, "imagenet", 299 if arch.startswith("inception") else 224
    train_ds, val_ds, found = build_datasets(data, preset=preset, image_size=args.image_size or size)
    classes = DATA_CLASSES[args.data_name]
    if args.data in ("digits", "synthetic") and args.data_name == "imagenet":
        classes = found  # the original default --data_name imagenet: the embedded data's own classes
    elif found != classes:
        raise UsageError(
            f"--data_name {args.data_name} means {classes} classes but {args.data} has {found}; "
            f"pass the --data_name of this data ({', '.join(k for k, v in DATA_CLASSES.items() if v == found) or 'none fits'})"
        )
    val_batch = args.test_batch if args.honour_test_batch else args.train_batch
    # the train order and augmentation are functions of (--manualSeed, epoch): a resumed run sees the same data
    train, val = build_loaders(
        train_ds,
        val_ds,
        args.train_batch,
        args.workers,
        distributed=get_world_size() > 1,
        seed=args.manualSeed,
        val_batch_size=val_batch,
    )
    return train, val, classes


def resolve_strategy(args: argparse.Namespace, model: nn.Module, types: tuple, num_classes: int) -> list:
    """The strategy from ``--bit-config``, ``--strategy`` or the arch's default preset."""
    reg, names = layer_names(args.arch, model, types, num_classes)
    if args.bit_config is not None:
        return strategy_from_bitconfig(args.bit_config, names, reg, args.linear_quantization)
    name = args.strategy
    if name is None:
        if args.linear_quantization and "mobilenetv2" in args.arch:
            name = "mobilenetv2_linear_0.6"
        elif not args.linear_quantization and args.arch.startswith("resnet50"):
            name = "resnet50_kmeans_readme"
        else:
            raise UsageError(f"no default strategy for {args.arch!r}: pass --strategy or --bit-config")
    if name in PRESETS:
        strategy = PRESETS[name][1]
    else:
        try:
            strategy = json.loads(name)
        except json.JSONDecodeError:
            raise UsageError(
                f"--strategy {name!r} is neither a preset ({', '.join(PRESETS)}) nor a JSON list"
            ) from None
    if not isinstance(strategy, list) or len(strategy) != len(names):
        n = len(strategy) if isinstance(strategy, list) else "?"
        raise UsageError(f"strategy has {n} entries but {args.arch!r} has {len(names)} quantizable layers")
    pairs = all(isinstance(s, list) and len(s) == 2 for s in strategy)
    if pairs != bool(args.linear_quantization):
        want = "[w, a] pairs" if args.linear_quantization else "ints"
        raise UsageError(
            f"strategy entries must be {want} in {'linear' if args.linear_quantization else 'K-means'} mode"
        )
    low = 2 if args.linear_quantization else 1  # signed linear weights at 1 bit: 2^(b-1) - 1 = 0 levels
    for name, entry in zip(names, strategy, strict=True):
        if any(not isinstance(b, int) or b < low for b in (entry if pairs else [entry])):
            raise UsageError(
                f"strategy entry {entry} of layer {name!r}: bits must be integers >= {low} in this mode"
            )
    return strategy


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    apply_local_rank_flag(args.local_rank)
    if args.half_type not in ("O0", "O1"):
        raise UsageError(
            f"--half_type {args.half_type}: only apex's O1 (autocast) and O0 (float32) are reimplemented"
        )
    out_dir = check_training_args(args)
    set_threads(args.threads)
    if args.linear_quantization != is_quantized_arch(args.arch):
        need = "a q* model (e.g. qmobilenetv2)" if args.linear_quantization else "a float model"
        raise ArchError(
            f"{'linear' if args.linear_quantization else 'K-means'} mode needs {need}, got {args.arch!r}"
        )
    if args.gpu_id is not None:
        import os

        os.environ["CUDA_VISIBLE_DEVICES"] = args.gpu_id
    info = join_distributed(args)
    seed_everything(args.manualSeed)
    device = choose_device(args.device)
    train_loader, val_loader, num_classes = make_loaders(args, args.arch)
    pretrained: bool | str = (args.weights or True) if args.pretrained else False
    model = build_haq_model(args.arch, num_classes, pretrained=pretrained)
    types = QUANT_TYPES if args.linear_quantization else KMEANS_TYPES
    strategy = resolve_strategy(args, model, types, 1000 if args.arch == "qmobilenetv2" else num_classes)
    model.to(device)
    books: dict = {}
    if args.linear_quantization:
        set_bits(model, strategy)
        first = next(iter(train_loader))[0].to(device)  # under DDP: every rank's share of the global batch
        calibrate(model, all_gather_rows(first).reshape(-1, *first.shape[1:]))
    else:
        books = quantize_model(model, strategy, max_iter=50, random_state=args.manualSeed)
    ckpt_dir = Path(args.checkpoint)
    start_epoch, best_acc, opt_state, resume_rng = args.start_epoch, 0.0, None, None
    if args.resume:
        full = load_resume_weights(model, args)
        resume_rng = full.get("rng")
        if not args.evaluate:
            start_epoch, best_acc, opt_state = (
                full.get("epoch", 0),
                float(full.get("best_acc", 0.0)),
                full.get("optimizer"),
            )
            ckpt_dir = Path(args.resume).parent
    reg, names = layer_names(args.arch, model, types, 1000 if args.arch == "qmobilenetv2" else num_classes)
    mode = "linear" if args.linear_quantization else "kmeans"
    cfg = strategy_to_bitconfig(strategy, names, reg, 1000 if args.arch == "qmobilenetv2" else num_classes,
                                args.linear_quantization, f"haq finetune ({mode}, {args.arch})", arch=args.arch)  # fmt: skip
    if args.evaluate:
        stats = evaluate(model, val_loader, device)
        print(f"Test Loss: {stats['loss']:.4f}, Test Acc: {stats['top1']:.2f} (top-5 {stats['top5']:.2f})")
        return stats
    optimizer = torch.optim.SGD(
        model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay
    )
    if opt_state is not None:
        optimizer.load_state_dict(opt_state)
    trained = prepare_ddp(model, args, device, info)

    def project() -> None:
        kmeans_update_model(model, books, free_high_bit=args.free_high_bit)

    def before_epoch(epoch: int) -> None:
        """With ``free_high_bit``: re-cluster every layer from the current weights at the start of the last epoch."""
        if books and args.free_high_bit and epoch == args.epochs - 1:
            books.clear()
            books.update(quantize_model(model, strategy, max_iter=50, random_state=args.manualSeed + 1))

    set_resume_hint(f"--resume {out_dir / 'checkpoint.pth.tar'}", out_dir / "checkpoint.pth.tar")
    with RunLogger(ckpt_dir, args) as logger:
        write_bitconfig(cfg, ckpt_dir / "bitconfig.json")
        best = fit(args, trained, optimizer, (train_loader, val_loader), device, logger, ckpt_dir, start_epoch, best_acc,
                   after_step=project if books else None, before_epoch=before_epoch, resume_rng=resume_rng)  # fmt: skip
        result = {"best_acc": best, "strategy": strategy, "bitconfig": str(ckpt_dir / "bitconfig.json")}
        logger.finalize(result)
    if info.is_main:
        print(f"Best acc: {best}")
    cleanup_distributed()
    return result


if __name__ == "__main__":
    run_main(main)
    sys.exit(0)
