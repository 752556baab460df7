"""What the entrypoints share: the run directory, the model with its initial bits, resuming weights."""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.bitconfig import BitConfigError, read_bitconfig, to_proqha
from common.runtime import (
    DistInfo,
    UsageError,
    barrier,
    get_rank,
    init_distributed,
    load_checkpoint,
    read_json_file,
)
from common.runtime import set_rng_state as common_set_rng_state
from proqha.bits import initial_bits, quantizers, set_bits
from proqha.checkpoints import load_weights, state_dict_of
from proqha.export import list_order
from proqha.models import Layout, build_quant_model, to_float


def join_distributed(args: argparse.Namespace) -> DistInfo:
    """Join the torchrun process group (a no-op in one process); under DDP every rank takes rank 0's ``--seed``
    (a random one when none is given: the data subset and the model must be the same everywhere) and rank 0's
    run folder (the default one is named by the time)."""
    info = init_distributed()
    if info.distributed:
        if args.seed is None:
            args.seed = int(torch.randint(1, 2**31 - 1, (1,)).item())
        if args.out is None:
            args.out = str(run_dir(args, reset=False))
        shared = [args.seed, args.out]
        torch.distributed.broadcast_object_list(shared, src=0)
        args.seed, args.out = shared
    return info


def run_dir(args: argparse.Namespace, reset: bool = True) -> Path:
    """``--out``, else the original ``{job_dir}/{dataset}/{arch}{num_layers}/{mission}/{time}`` (job_dir: runs/proqha).

    ResNet-20 omits the depth, as the original. ``--reset`` deletes the directory first.
    """
    if args.out is not None:
        out = Path(args.out)
    else:
        depth = "" if args.arch == "resnet20" else str(args.num_layers)
        stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H:%M:%S")
        out = (
            Path(args.job_dir or "runs/proqha")
            / args.dataset
            / f"{args.arch}{depth}"
            / str(args.mission)
            / stamp
        )
    if reset and args.reset and out.exists() and get_rank() == 0:
        shutil.rmtree(out)
    barrier()  # under DDP no rank looks into the folder before rank 0 has cleared it
    return out


def read_bits_file(path: str, model: nn.Module, layout: Layout) -> list[int]:
    """A bit list from a bit-config JSON file, a JSON list, or a checkpoint holding ``kbits``."""
    if path.endswith(".json"):
        data = read_json_file("--bits_file", path)
        if isinstance(data, list):
            if not all(isinstance(b, int) and not isinstance(b, bool) for b in data):
                raise UsageError(
                    f"--bits_file {path}: a bit list must hold integers, got {json.dumps(data)[:80]}"
                )
            return list(data)
        try:
            cfg = read_bitconfig(path)
        except BitConfigError as e:
            raise UsageError(f"--bits_file {path}: {e}") from e
        if cfg.arch != layout.common_arch:
            raise UsageError(f"--bits_file {path} is for {cfg.arch!r}, the model is {layout.common_arch!r}")
        names = [n for n, m in model.named_modules() if hasattr(m, "quantize_weight")]
        return to_proqha(cfg, order=list_order(model), quant_layers=names)
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, dict) or "kbits" not in ckpt:
        raise UsageError(f"--bits_file {path}: a checkpoint needs a 'kbits' entry")
    return [int(b) for b in ckpt["kbits"]]


def build_model(args: argparse.Namespace, num_classes: int) -> tuple[nn.Module, Layout, list[int]]:
    """The model of ``--dataset/--arch/--num_layers`` with its construction bits (``--k_bits``, ``--pre_k_bits``,
    ``--ratio``, or ``--bits_file``); ``--archtype origin`` gives the float baseline (bits all 32)."""
    model, layout = build_quant_model(args.dataset, args.arch, args.num_layers, num_classes, args.width_mult)
    n = len(quantizers(model))
    bits = initial_bits(args.k_bits, n, args.pre_k_bits, args.ratio)
    if getattr(args, "bits_file", None):
        bits = read_bits_file(args.bits_file, model, layout)
        if len(bits) != n:
            raise UsageError(f"--bits_file has {len(bits)} bits, the model has {n} quantizers")
        if any(not 1 <= b <= 32 for b in bits):
            raise UsageError("--bits_file bits must be within 1..32")
    set_bits(model, bits)
    if args.archtype == "origin":
        to_float(model)
        bits = [32] * n
    return model, layout, bits


def load_resume(model: nn.Module, path: str) -> dict[str, Any]:
    """Load ``--resume`` weights (by name, positional fallback) and the bits of a search checkpoint."""
    ckpt = load_checkpoint(path)
    load_weights(model, state_dict_of(ckpt))
    if isinstance(ckpt, dict) and "kbits" in ckpt:
        set_bits(model, [int(b) for b in ckpt["kbits"]])
    return ckpt if isinstance(ckpt, dict) else {}


def set_rng_state(saved: dict[str, Any]) -> None:
    """Restore one process's :func:`common.runtime.rng_state`; a state saved before NumPy's was included leaves NumPy as it is."""
    import random

    if "numpy" in saved:
        common_set_rng_state(saved)
        return
    version, state, gauss = saved["python"]
    random.setstate((version, tuple(state), gauss))
    torch.set_rng_state(saved["torch"])
