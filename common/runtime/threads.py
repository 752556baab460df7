"""CPU thread count for torch and the BLAS libraries together (``--threads N``).

On a small machine, torch's intra-op pool and the BLAS pools of numpy/scipy (OpenBLAS, MKL) each start one thread
per core by default; run side by side they oversubscribe the cores and a timing measures the scheduler, not the
code. ``--threads N`` sets both to ``N``; ``0`` (the default) leaves every library at its own default.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from .errors import UsageError

__all__ = ["add_threads_arg", "set_threads"]


def add_threads_arg(parser: argparse.ArgumentParser | Any) -> None:
    """Add ``--threads N`` to ``parser`` (or an argument group) unless the parser already has it."""
    actions = getattr(parser, "_option_string_actions", {})
    if "--threads" in actions:
        return
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads for torch (intra-op) and the BLAS libraries (threadpoolctl); 0: library defaults",
    )


def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads in torch's intra-op pool and in every BLAS/OpenMP pool threadpoolctl finds.

    ``None`` or ``0`` changes nothing; a negative count is a :class:`UsageError`. The BLAS limit is global and stays
    in force for the rest of the process, like ``torch.set_num_threads``.
    """
    if threads is None or threads == 0:
        return
    if threads < 0:
        raise UsageError(f"--threads must be >= 0, got {threads}")
    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings threadpoolctl; without it only torch is limited
        return
    threadpool_limits(limits=threads)
