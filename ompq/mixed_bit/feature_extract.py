"""OMPQ's search, ``mixed_bit/feature_extract.py`` (docs/ompq.md §2.1, §3.1, §3.2).

``python -m ompq.mixed_bit.feature_extract --model resnet18 --path BASE --dataset imagenet --save_path DATA
--model_size 6.7 --beta 10.0 --quant_type QAT``

One batch of ``--train_batch_size`` augmented training images → features of every searchable layer (train-mode
BN) → ORM matrix → θ = exp(−β·γ) → SLSQP on the relaxed bits → rounding (DFS for ResNet-18, numpy round
elsewhere) → prints the bit list, the size, the FP32 size and the BOPs line as the original, and writes the
portable bit-config file (``<out>/bit_config.json``) for ``ompq.QAT.quant_train --bit_config`` or
``ompq.PTQ.main_imagenet --bit_config``.

The search itself is :func:`ompq.mixed_bit.search.search`; this module builds the model, draws the batch,
prints and writes. Every original flag is kept (``--cfg``: the original's channel list, see
:mod:`ompq.mixed_bit.search_model`); fixed: ``--model`` defaults to resnet18 (was the invalid ``vgg``),
``--dataset`` to imagenet (cifar10 failed every model's assert), no distributed launcher/apex/DALI needed
(``--local_rank``, ``--gpu``, ``--n_worker`` are accepted). Added: ``--solver {slsqp,milp}``, ``--rounding {auto,dfs,around}``,
``--bn_mode {train,eval}``, ``--abits`` (activation bits written into the file and used for an extra BOPs line),
``--layer1_projection``, ``--pretrained``, ``--image_size``, ``--device``, ``--out``. ``--dataset digits`` (or
``--save_path digits``) runs on the embedded data.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision import transforms as T

from common.bitconfig import write_bitconfig
from common.data import build_split, build_transforms
from common.runtime import (
    RunLogger,
    UsageError,
    add_local_rank_arg,
    add_threads_arg,
    apply_local_rank_flag,
    check_at_least,
    check_output_dir,
    check_positive,
    choose_device,
    refuse_distributed,
    run_main,
    seed_everything,
    set_threads,
)
from common.runtime.compat_flags import warn_unused_flags
from common.runtime.runlog import add_logging_args
from ompq.mixed_bit.search import search
from ompq.mixed_bit.search_model import MODEL_NAMES, build_search_model, check_cfg, parse_cfg, resolve_model

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


UNUSED_FLAGS = ("gpu",)
"""Accepted for the original command lines, a warning when set."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ompq.mixed_bit.feature_extract", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--path", type=str, default=None, help="base-model folder with checkpoint/model_best.pth.tar"
    )
    p.add_argument("--model", type=str, default="resnet18", help=f"one of {', '.join(MODEL_NAMES)}")
    p.add_argument(
        "--cfg",
        type=str,
        default="None",
        help="channel list of the model (Python list; None = standard widths)",
    )
    p.add_argument("--manual_seed", default=0, type=int)
    p.add_argument("--model_size", default=0, type=float, help="size budget in 'Mb' (MiB)")
    p.add_argument("--beta", default=1, type=float, help="beta of the importance exp(-beta*gamma)")
    p.add_argument("--quant_type", type=str, default="QAT", choices=["QAT", "PTQ"])
    p.add_argument("--dataset", type=str, default="imagenet", choices=["cifar10", "imagenet", "digits"])
    p.add_argument(
        "--save_path", type=str, default="/Path/to/Dataset", help="ImageNet root (train/) or 'digits'"
    )
    p.add_argument("--gpu", default="0", help="accepted for compatibility (use --device)")
    p.add_argument("--train_batch_size", type=int, default=32, help="images of the one batch (N of the ORM)")
    p.add_argument("--n_worker", type=int, default=24, help="loader workers")
    add_local_rank_arg(p)
    new = p.add_argument_group("added by this reimplementation")
    new.add_argument(
        "--solver", default="slsqp", choices=["slsqp", "milp"], help="milp: exact integer optimum"
    )
    new.add_argument(
        "--rounding", default="auto", choices=["auto", "dfs", "around"], help="auto: dfs for resnet18"
    )
    new.add_argument(
        "--bn_mode", default="train", choices=["train", "eval"], help="BN statistics of the batch"
    )
    new.add_argument("--abits", type=int, default=8, help="activation bits written into the bit-config file")
    new.add_argument("--layer1_projection", default="auto", choices=["auto", "on", "off"])
    new.add_argument("--pretrained", action="store_true", help="torchvision weights instead of --path")
    new.add_argument("--num_classes", type=int, default=None, help="default: 1000 (10 for digits)")
    new.add_argument("--image_size", type=int, default=None, help="default 224 (32 for digits)")
    new.add_argument("--device", default="auto")
    add_threads_arg(new)
    new.add_argument(
        "--out", type=Path, default=None, help="output folder (default: --path or runs/ompq_search)"
    )
    add_logging_args(p)
    return p


def check_args(args: argparse.Namespace) -> str:
    name = resolve_model(args.model)
    args.cfg = parse_cfg(args.cfg)
    if args.cfg is not None:
        args.cfg = check_cfg(name, args.cfg)
    if args.save_path == "digits":
        args.dataset = "digits"
    if args.dataset == "cifar10" and name != "resnet20":
        raise UsageError(
            f"--dataset cifar10: the {args.model} search model supports imagenet (or digits) only "
            "(cifar10 is for --model resnet20)"
        )
    check_positive("--model_size", args.model_size)
    check_at_least("--beta", args.beta, 0)
    check_at_least("--n_worker", args.n_worker, 0)
    if args.num_classes is not None:
        check_at_least("--num_classes", args.num_classes, 2)
    if args.image_size is not None:
        check_at_least("--image_size", args.image_size, 8)
    check_output_dir("--out", args.out or (Path(args.path) if args.path else Path("runs/ompq_search")))
    if args.train_batch_size < 2:
        raise UsageError("--train_batch_size must be at least 2 (the ORM centres over the batch)")
    if not 1 <= args.abits <= 32:
        raise UsageError(f"--abits must be in [1, 32], got {args.abits}")
    if args.path is not None and not (Path(args.path) / "checkpoint" / "model_best.pth.tar").is_file():
        raise UsageError(f"--path {args.path}: checkpoint/model_best.pth.tar not found")
    return name


def first_batch(args: argparse.Namespace, size: int) -> torch.Tensor:
    """The first shuffled batch of augmented training images (the original's one DALI batch)."""
    if args.dataset in ("digits", "cifar10"):
        tf = build_transforms("digits" if args.dataset == "digits" else "cifar", True, size)
    else:
        tf = T.Compose([
            T.RandomResizedCrop(size, scale=(0.1, 1.0), ratio=(0.8, 1.25)),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ])  # fmt: skip
    data = "digits" if args.dataset == "digits" else args.save_path
    if args.dataset == "cifar10" and not data.startswith("cifar10:"):
        data = f"cifar10:{data}"
    ds = build_split(data, "train", tf, image_size=size)
    gen = torch.Generator().manual_seed(args.manual_seed)
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=args.train_batch_size,
        shuffle=True,
        generator=gen,
        num_workers=0 if args.dataset == "digits" else min(args.n_worker, os.cpu_count() or 1),
    )
    return next(iter(loader))[0]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    apply_local_rank_flag(args.local_rank)
    # one batch of 32/64 images through the network: nothing to spread, and N copies would write the same files
    refuse_distributed("python -m ompq.mixed_bit.feature_extract")
    warn_unused_flags(args, build_parser(), UNUSED_FLAGS, "use --device")
    set_threads(args.threads)
    name = check_args(args)
    small = args.dataset in ("digits", "cifar10")
    size = args.image_size or (32 if small else 224)
    classes = args.num_classes or (10 if small else 1000)
    out = args.out or (Path(args.path) if args.path else Path("runs/ompq_search"))
    seed_everything(args.manual_seed)
    device = choose_device(args.device)
    ckpt = Path(args.path) / "checkpoint" / "model_best.pth.tar" if args.path else None
    model = build_search_model(name, classes, ckpt, args.pretrained, args.layer1_projection, cfg=args.cfg)
    images = first_batch(args, size).to(device)
    model = model.to(device)
    record: dict[str, Any] = {}
    source = (
        f"ompq.mixed_bit.feature_extract --model {args.model} --model_size {args.model_size} --beta {args.beta} "
        f"--quant_type {args.quant_type}" + (f" --cfg {args.cfg}" if args.cfg else "")
    )
    cfg = search(
        model, images, args.model_size, args.beta, quant_type=args.quant_type, arch=name, abits=args.abits,
        rounding=args.rounding, solver=args.solver, bn_mode=args.bn_mode, num_classes=classes, source=source,
        record=record,
    )  # fmt: skip
    if args.cfg is not None:
        cfg.extra["ompq"]["cfg"] = args.cfg
    bits = cfg.extra["search"]["bits"]
    print(bits)
    print("Quantization model is", cfg.costs["size_Mb"], "Mb")
    print("Original model is", cfg.costs["fp32_size_Mb"], "Mb")
    print("Quantization model BOPs is", cfg.costs["GBOPs_a5_printed"])
    if args.abits != 5:
        print(f"Quantization model BOPs with {args.abits}-bit activations is", cfg.costs["GBOPs"])
    timing = {k: cfg.extra["search"][k] for k in ("features_s", "orm_s", "allocation_s", "search_s")}
    logger = RunLogger(out, args, console=False)
    os.makedirs(out, exist_ok=True)
    path = write_bitconfig(cfg, out / "bit_config.json")
    np.save(out / "orm_matrix.npy", record["orm"])
    for index, layer_bits in enumerate(bits):  # epochs.csv / tensorboard: the chosen bits per layer
        logger.log_epoch({"layer": index, "bits": layer_bits}, step=index)
    logger.info(f"bits {bits} size {cfg.costs['size_Mb']} Mb GBOPs {cfg.costs['GBOPs']}")
    logger.info(f"bit config written to {path} (search {timing['search_s']:.2f} s)")
    final = {
        "bits": bits, "size_Mb": cfg.costs["size_Mb"], "GBOPs": cfg.costs["GBOPs"], "bit_config": str(path),
        **timing,
    }  # fmt: skip
    logger.finalize(final)
    logger.close()
    print(f"bit config written to {path} (search {timing['search_s']:.2f} s)")
    return final


if __name__ == "__main__":
    run_main(main)
