"""Where a benchmark step runs: in the orchestrator's process, or under ``torchrun`` on ``--nproc-per-node N``.

A step is one entrypoint's ``main(argv)``. With one process and no torchrun flags it runs here (the orchestrator
then times it and counts the images it draws); otherwise it becomes ``python -m torch.distributed.run
<flags> --nproc-per-node N -m <module> <argv>`` (DDP: gloo on CPU, NCCL on CUDA) and its results are read back
from the files it writes. Entrypoints whose batch flag is per process (HAQ, HMQ, ProQHA) get the recipe's global
batch divided by the world size (:func:`per_process_batch`) and their ``--sync-bn`` (and HMQ's ``--sync-noise``,
``--sync-act-range``), so N processes train what one process with the global batch does; HAWQ-V3's and OMPQ's
``-b`` is already the global batch.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from reproduce.compare.method import Context, data_kind


def distributed(ctx: Context) -> bool:
    """Whether ``ctx``'s training steps run under torchrun."""
    return ctx.nproc > 1 or bool(ctx.torchrun_args)


def world_size(ctx: Context) -> int:
    """Processes of a torchrun step: ``--nproc-per-node`` times torchrun's ``--nnodes`` (a fixed count; an
    elastic ``MIN:MAX`` range has no fixed world and is an error)."""
    nodes = 1
    args = list(ctx.torchrun_args)
    for i, arg in enumerate(args):
        value = None
        if arg == "--nnodes":
            value = args[i + 1] if i + 1 < len(args) else ""
        elif arg.startswith("--nnodes="):
            value = arg.split("=", 1)[1]
        if value is not None:
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"torchrun --nnodes {value!r}: the benchmark needs a fixed node count")
            nodes = int(value)
    return ctx.nproc * nodes


def per_process_batch(ctx: Context, batch: int) -> int:
    """``batch`` (global) split over the processes of a torchrun step; it must divide evenly."""
    if not distributed(ctx):
        return batch
    world = world_size(ctx)
    if batch % world:
        raise ValueError(f"batch size {batch} does not split over {world} processes")
    return batch // world


def sync_bn_flags(ctx: Context) -> list[str]:
    """``--sync-bn`` under torchrun (BN statistics of the global batch, as one process has), nothing otherwise."""
    return ["--sync-bn"] if distributed(ctx) else []


def loader_workers(ctx: Context) -> int:
    """Data-loading workers of a method's own steps: ``--workers``, except 0 on the embedded ``digits`` (held in
    memory, and the orchestrator counts the images a search draws in its own process)."""
    return 0 if data_kind(ctx.data) == "digits" else ctx.workers


def amp_flags(ctx: Context) -> list[str]:
    """``--amp <mode>`` for the entrypoints that take torch.amp's autocast flag, nothing without ``--amp``."""
    return [] if ctx.amp == "none" else ["--amp", ctx.amp]


def torchrun_command(ctx: Context, module: str, argv: list[str]) -> list[str]:
    """``python -m torch.distributed.run <flags> -m <module> <argv>``: ``--standalone --nproc-per-node N`` unless
    ``ctx.torchrun_args`` gives torchrun's own (multi-node) flags."""
    flags = list(ctx.torchrun_args) or ["--standalone"]
    return [sys.executable, "-m", "torch.distributed.run", *flags, "--nproc-per-node", str(ctx.nproc),
            "-m", module, *argv]  # fmt: skip


def run_step(ctx: Context, module: str, argv: list[str], main: Callable[[list[str]], Any]) -> Any:
    """``main(argv)`` in this process, or ``module`` under torchrun when :func:`distributed`; returns what
    ``main`` returned, or None from torchrun (read the step's output files instead)."""
    if not distributed(ctx):
        return main(argv)
    command = torchrun_command(ctx, module, argv)
    print(f"  torchrun: {shlex.join(command[1:])}", flush=True)
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"torchrun {module} exited {done.returncode}: {shlex.join(command)}")
    return None
