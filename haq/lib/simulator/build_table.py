"""Build a latency table for any registered model (what users of the original asked for in its issue #17).

``python -m haq.lib.simulator.build_table --arch qtiny_mobilenet_v2 --dataset digits [--mode analytic|timing|bops]``
writes ``T[i, w-1, a-1]`` (shape ``[layers, 8, 8]``, HAQ's layer order) to ``<output>/lookup_tables/`` under the
original's file name, where ``haq.rl_quantize`` with the same ``--output`` looks first (``--out FILE`` overrides).

* ``analytic`` (default): a BitFusion-style bit-serial accelerator built from 2-bit bricks, where a layer costs
  ``batch · MACs_i · ⌈w/2⌉ · ⌈a/2⌉`` cycles (int64). This is an **approximation**: it ignores memory traffic,
  on-chip buffering and utilisation, which the shipped BISMO table includes (its stem is activation-bound,
  its classifier weight-bound), so it ranks compute-heavy layers like a real bit-serial array but gives
  memory-bound layers no special treatment.
* ``timing``: each layer is timed on this machine in float at the simulator batch (median of ``--repeats`` runs
  after warm-up); that time is the 8/8 entry and the other entries scale it by ``⌈w/2⌉·⌈a/2⌉ / 16``
  (float64 microseconds). Commodity CPUs/GPUs have no sub-8-bit kernels, so the bit dependence is still
  the bit-serial model; only the per-layer weights are measured.
* ``bops``: ``T[i, w-1, a-1] = MACs_i · w · a`` per image (int64, ``--batch`` not applied), i.e. the bit
  operations of the layer. With it HAQ's "latency" budget is a BOPs budget: the preserve ratio is a
  fraction of the all-8/8 BOPs (note that the search charges a stem at ``a = -1`` the 7-bit column, ``56·MACs_0``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.layers import enumerate_layers
from common.runtime import (
    UsageError,
    add_threads_arg,
    check_output_file,
    choose_device,
    run_main,
    set_threads,
)
from haq.lib.env.embedding import quantizable_modules
from haq.lib.simulator.latency_table import SIMULATOR_BATCH, built_table_path
from haq.lib.utils.linear_quant import QUANT_TYPES

MAX_BIT = 8
KMEANS_TYPES = (nn.Conv2d, nn.Linear)


def bit_serial_factor(max_bit: int = MAX_BIT) -> np.ndarray:
    """``F[w-1, a-1] = ⌈w/2⌉·⌈a/2⌉`` for w, a in 1..max_bit."""
    bricks = np.ceil(np.arange(1, max_bit + 1) / 2).astype(np.int64)
    return np.outer(bricks, bricks)


def _layer_types(model: nn.Module) -> tuple[type, ...]:
    return QUANT_TYPES if any(type(m) in QUANT_TYPES for m in model.modules()) else KMEANS_TYPES


def layer_macs(model: nn.Module, input_size: int) -> list[int]:
    """MACs per sample of each quantizable layer, in HAQ's layer order."""
    macs = {info.name: info.macs for info in enumerate_layers(model, input_size)}
    return [macs[name] for name, _ in quantizable_modules(model, _layer_types(model))]


def analytic_table(
    model: nn.Module, input_size: int, batch: int = SIMULATOR_BATCH, max_bit: int = MAX_BIT
) -> np.ndarray:
    """``T[i, w-1, a-1] = batch · MACs_i · ⌈w/2⌉ · ⌈a/2⌉`` (int64)."""
    macs = np.asarray(layer_macs(model, input_size), dtype=np.int64)
    return batch * macs[:, None, None] * bit_serial_factor(max_bit)[None]


def bops_table(model: nn.Module, input_size: int, max_bit: int = MAX_BIT) -> np.ndarray:
    """``T[i, w-1, a-1] = MACs_i · w · a`` (int64): the bit operations per image of each layer."""
    macs = np.asarray(layer_macs(model, input_size), dtype=np.int64)
    bits = np.arange(1, max_bit + 1, dtype=np.int64)
    return macs[:, None, None] * np.outer(bits, bits)[None]


def _layer_inputs(model: nn.Module, input_size: int) -> list[tuple[nn.Module, tuple[int, ...]]]:
    shapes: dict[nn.Module, tuple[int, ...]] = {}
    handles = [
        m.register_forward_hook(lambda mod, inp, out: shapes.setdefault(mod, tuple(inp[0].shape[1:])))
        for _, m in quantizable_modules(model, _layer_types(model))
    ]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, input_size, input_size))
    finally:
        for h in handles:
            h.remove()
    return [(m, shapes[m]) for _, m in quantizable_modules(model, _layer_types(model))]


@torch.no_grad()
def timed_table(
    model: nn.Module, input_size: int, device: torch.device, batch: int = SIMULATOR_BATCH, repeats: int = 20,
    max_bit: int = MAX_BIT,
) -> np.ndarray:  # fmt: skip
    """Measured float time (µs) of every layer at ``batch`` as the 8/8 entry, scaled by the bit-serial factor."""
    times = []
    for module, shape in _layer_inputs(model.cpu(), input_size):
        layer = module.to(device)
        x = torch.randn(batch, *shape, device=device)
        runs = []
        for i in range(repeats + 3):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            layer(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= 3:
                runs.append(time.perf_counter() - start)
        times.append(statistics.median(runs) * 1e6)
        module.cpu()
    factor = bit_serial_factor(max_bit) / bit_serial_factor(max_bit)[-1, -1]
    return np.asarray(times)[:, None, None] * factor[None]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m haq.lib.simulator.build_table", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--arch", "-a", required=True, help="HAQ arch name (qmobilenetv2, q<registered>, ...)")
    p.add_argument("--dataset", default="imagenet100", help="dataset part of the file name (and input size)")
    p.add_argument(
        "--image_size",
        type=int,
        default=None,
        help="input side (default: 224 for imagenet*, else the arch's)",
    )
    p.add_argument(
        "--num_classes",
        type=int,
        default=None,
        help="classifier outputs (default: 10 for digits/cifar10, else 1000)",
    )
    p.add_argument("--mode", choices=("analytic", "timing", "bops"), default="analytic")
    p.add_argument("--batch", type=int, default=SIMULATOR_BATCH, help="simulator batch (not used by bops)")
    p.add_argument("--repeats", type=int, default=20, help="timing mode: timed runs per layer")
    p.add_argument("--device", default="auto", help="timing mode: device to time on")
    add_threads_arg(p)
    p.add_argument(
        "--output",
        default="save",
        help="output root, as haq.rl_quantize's --output: the table goes to <output>/lookup_tables/",
    )
    p.add_argument("--out", type=Path, default=None, help="file to write (overrides --output)")
    return p


def main(argv: Sequence[str] | None = None) -> Path:
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    from common.models import get_spec
    from haq.models import base_arch, build_haq_model

    if args.batch < 1 or args.repeats < 1:
        raise UsageError("--batch and --repeats must be positive")
    if (args.image_size is not None and args.image_size < 8) or (
        args.num_classes is not None and args.num_classes < 1
    ):
        raise UsageError("--image_size must be >= 8 and --num_classes >= 1")
    out = args.out or built_table_path(args.output, args.arch, args.dataset, args.batch)
    check_output_file("--out" if args.out else "--output", out)
    size = args.image_size or (
        224 if "imagenet" in args.dataset else get_spec(base_arch(args.arch)).input_size
    )
    classes = args.num_classes or (10 if args.dataset in ("digits", "cifar10") else 1000)
    model = build_haq_model(args.arch, num_classes=classes)
    if args.mode == "analytic":
        table = analytic_table(model, size, args.batch)
    elif args.mode == "bops":
        table = bops_table(model, size)
    else:
        table = timed_table(model, size, choose_device(args.device), args.batch, args.repeats)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npy")
    np.save(tmp, table)
    tmp.replace(out)
    print(f"wrote {out} ({table.shape[0]} layers, {args.mode})")
    return out


if __name__ == "__main__":
    sys.exit(0 if run_main(main) else 1)
