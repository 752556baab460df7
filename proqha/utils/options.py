"""The one parser of every ProQHA entrypoint (the original ``utils/options.py``; docs/proqha.md section 2).

Every original flag keeps its name, default and meaning. Changes: ``--k_bits`` is an int (compute.py crashed
on the string); ``--resume`` must exist (checked at parse time, as the original). Flags that the original
declares but never reads (``--cost`` unless ``--enforce_cost``, ``--eval_freq``, ``--gpus`` in favour of
``--device``, ``--batchnorm``/``--cutout``/``--workers`` where unused) are accepted for compatibility. New flags:
``--device --seed --amp --out`` (shared spelling), ``--cost_pairing``, ``--enforce_cost``, ``--score_batch``,
``--acc_eval``, ``--bits_file``, ``--train_fraction``; new ``--arch`` choice ``tiny_resnet`` (with ``--num_layers 10``,
the cross-method benchmark's model, see :mod:`proqha.models`). A bad value ends with one line on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import NoReturn

from common.runtime import (
    UsageError,
    add_common_args,
    add_sync_bn_arg,
    check_at_least,
    check_output_dir,
    check_output_file,
    check_positive,
    set_threads,
)
from common.runtime.compat_flags import warn_unused_flags
from common.runtime.runlog import add_logging_args
from proqha.cost import PAIRINGS
from proqha.data import SCORE_BATCH_MODES
from proqha.models import ARCHS, DATASETS
from proqha.progressive.search import ACC_EVALS, INFOS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="ProQHA: progressive mixed-precision quantization")
    a = p.add_argument
    a(
        "--gpus",
        type=int,
        nargs="+",
        default=[0],
        help="original GPU list (use --device; kept for compatibility)",
    )
    a("--dataset", type=str, default="cifar10", choices=DATASETS, help="model family and transforms")
    a(
        "--data_dir",
        type=str,
        default="/userhome/memory_data/cifar10",
        help="data folder (train/, val/) or digits",
    )
    a(
        "--base_data_dir",
        type=str,
        default="/gdata/ImageNet2012",
        help="scoring-batch data ({dir}/train) or digits",
    )
    a("--workers", type=int, default=8, help="data loader workers")
    a(
        "--job_dir",
        type=str,
        default=None,
        help="output root (run dir {job_dir}/{dataset}/{arch}{layers}/{mission}/{time})",
    )
    a("--mission", type=str, default=None, help="experiment tag (a path component)")
    a("--reset", action="store_true", help="delete the run directory before starting")
    a("--resume", type=str, default=None, help="checkpoint to start from")
    a("--arch", type=str, default="resnet", choices=ARCHS, help="architecture")
    a("--width_mult", type=float, default=1.0, help="MobileNetV2 width")
    a(
        "--batchnorm",
        type=str,
        default=True,
        help="VGG batchnorm; any value is true, as in the original (the _bn VGGs)",
    )
    a(
        "--archtype",
        type=str,
        default="quant",
        choices=("quant", "origin"),
        help="quant model or float baseline",
    )
    a("--num_layers", type=int, default=56, help="depth; the bit list has 2*(num_layers-2) entries")
    a("--train_epochs", type=int, default=300, help="baseline epochs")
    a("--search_epochs", type=int, default=30, help="fine-tuning epochs after each round")
    a("--step", type=int, default=20, help="number of progressive rounds")
    a("--train_batch_size", type=int, default=128, help="training (and scoring) batch size")
    a("--eval_batch_size", type=int, default=100, help="validation batch size")
    a("--lr", type=float, default=0.1, help="learning rate (SGD in train, Adam in search)")
    a("--weight_decay", type=float, default=2e-4, help="SGD weight decay")
    a("--momentum", type=float, default=0.9, help="SGD momentum")
    a("--beta1", type=float, default=0.9, help="Adam beta1")
    a("--beta2", type=float, default=0.999, help="Adam beta2")
    a("--epsilon", type=float, default=10e-8, help="Adam epsilon (10e-8 = 1e-7)")
    a("--info", type=str, default="hession", choices=INFOS, help="selection: min score or max accuracy")
    a("--interval", type=int, default=1, choices=(1, 2, 4), help="bits removed from each chosen quantizer")
    a("--cost", type=float, default=0.25, help="cost budget (read only with --enforce_cost)")
    a("--k_bits", type=int, default=8, help="uniform initial bit-width")
    a("--pre_k_bits", type=int, default=8, help="bits of the quantizers not sampled when --ratio < 1")
    a("--clip", action="store_true", help="clip the global gradient norm at --grad_clip (train)")
    a("--ratio", type=float, default=0.5, help="construction and search: fraction of quantizers sampled")
    a("--lam", type=int, default=100, help="candidates per round")
    a(
        "--grad_clip",
        type=float,
        default=5.0,
        help="max gradient norm (train with --clip; the search always clips)",
    )
    a("--cutout", type=bool, default=False, help="original CIFAR search cutout flag (unused)")
    a("--print_freq", type=int, default=100, help="logging period in iterations")
    a("--eval_freq", type=int, default=1, help="never read (original)")
    a("--test_only", action="store_true", help="train.py: evaluate only")
    new = p.add_argument_group("reimplementation options")
    n = new.add_argument
    n(
        "--cost_pairing",
        choices=PAIRINGS,
        default="odd_position",
        help="cost layer/bit pairing (odd_position = original)",
    )
    n(
        "--enforce_cost",
        action="store_true",
        help="stop the search after the first round whose cost <= --cost",
    )
    n(
        "--score_batch",
        choices=SCORE_BATCH_MODES,
        default="first",
        help="scoring batch: first N items (original) or random",
    )
    n(
        "--acc_eval",
        choices=ACC_EVALS,
        default="base",
        help="--info acc: base model accuracy (original) or each candidate's",
    )
    n(
        "--train_fraction",
        type=float,
        default=1.0,
        help="use a random fraction of the training set (quick runs)",
    )
    n(
        "--image_size",
        type=int,
        default=None,
        help="image side (default: 224 for imagenet/tinyimagenet, else 32); the model is unchanged",
    )
    n(
        "--bits_file",
        type=str,
        default=None,
        help="train.py: bit list from a bit-config file or a search checkpoint",
    )
    add_sync_bn_arg(p, note="train.py and search.py under torchrun: ")
    add_common_args(p, seed_default=None)
    add_logging_args(p)
    return p


UNUSED_FLAGS = ("gpus", "cutout", "eval_freq")
"""Original flags never read here (``--device`` picks the device): a warning when set."""


def check_args(args: argparse.Namespace, prog: str = "") -> argparse.Namespace:
    """Range checks the original left to crashes, and the output (``--out`` is a file for ``measure/compute.py``)."""
    warn_unused_flags(
        args, build_parser(prog), UNUSED_FLAGS, "the original never read it either, or --device does it"
    )
    if args.resume is not None and not os.path.isfile(args.resume):
        raise UsageError(f"--resume {args.resume}: no such file")
    if args.bits_file is not None and not os.path.isfile(args.bits_file):
        raise UsageError(f"--bits_file {args.bits_file}: no such file")
    positive = ("train_epochs", "step", "train_batch_size", "eval_batch_size", "lam", "print_freq")
    for name in positive:
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.image_size is not None and args.image_size < 8:
        raise UsageError(f"--image_size must be >= 8, got {args.image_size}")
    if args.search_epochs < 0 or args.workers < 0:
        raise UsageError("--search_epochs and --workers must be >= 0")
    for name in ("k_bits", "pre_k_bits"):
        if not 1 <= getattr(args, name) <= 32:
            raise UsageError(f"--{name} must be within 1..32, got {getattr(args, name)}")
    if not 0 < args.train_fraction <= 1:
        raise UsageError(f"--train_fraction must be within (0, 1], got {args.train_fraction}")
    if args.ratio <= 0:
        raise UsageError(f"--ratio must be > 0, got {args.ratio}")
    for name in ("lr", "epsilon", "grad_clip"):
        check_positive(f"--{name}", getattr(args, name))
    check_at_least("--momentum", args.momentum, 0)
    check_at_least("--weight_decay", args.weight_decay, 0)
    if "compute" in prog:
        if args.out is not None:
            check_output_file("--out", args.out)
    elif args.out is not None:
        check_output_dir("--out", args.out)
    else:
        check_output_dir("--job_dir", args.job_dir or "runs/proqha")
    if not (0 <= args.beta1 < 1 and 0 <= args.beta2 < 1):
        raise UsageError("--beta1 and --beta2 must be within [0, 1)")
    set_threads(args.threads)
    return args


def parse_args(prog: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    return check_args(build_parser(prog).parse_args(argv), prog)
