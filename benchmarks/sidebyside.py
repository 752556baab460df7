"""Side-by-side timing shared by the bench scripts: interleaved repetitions, wall and CPU time, min and median.

Every side runs once per round, in turn, after a warm-up, so a change of machine load during the run reaches all
sides alike. Each call is timed with the wall clock (``time.perf_counter``) and with the process's CPU time
(``time.process_time``, all threads together): CPU time well above wall time × threads means the process waited
for cores it had asked for; CPU time close to wall time × threads with a slow wall time means the cores were busy
with other work. ``--threads N`` limits torch's intra-op pool and the BLAS pools together (default 1 here, so that
two cores measure code rather than oversubscription).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from common.runtime import set_threads

__all__ = [
    "Timing",
    "add_timing_args",
    "apply_timing_args",
    "cpu_ratio",
    "header",
    "markdown_table",
    "median_ratio",
    "time_interleaved",
]


@dataclass
class Timing:
    """Wall and CPU seconds of each repetition of one side."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def wall_min(self) -> float:
        return min(self.wall)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_min(self) -> float:
        return min(self.cpu)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def time_call(fn: Callable[[], object], into: Timing) -> object:
    """Run ``fn`` once and append its wall and CPU seconds to ``into``; returns what ``fn`` returned."""
    _sync()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    _sync()
    into.wall.append(time.perf_counter() - wall)
    into.cpu.append(time.process_time() - cpu)
    return result


def time_interleaved(
    sides: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, Timing]:
    """Run every side ``warmup`` times, then ``repeats`` rounds in which each side runs once, in turn."""
    for _ in range(warmup):
        for fn in sides.values():
            fn()
    timings = {name: Timing() for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            time_call(fn, timings[name])
    return timings


def add_timing_args(p: argparse.ArgumentParser, repeats: int = 5, warmup: int = 1) -> None:
    """``--repeats``, ``--warmup`` and ``--threads`` (default 1) for a bench script."""
    p.add_argument("--repeats", type=int, default=repeats, help="timed rounds (min and median are printed)")
    p.add_argument("--warmup", type=int, default=warmup, help="untimed rounds first")
    p.add_argument(
        "--threads", type=int, default=1, help="torch intra-op and BLAS threads (0: the libraries' defaults)"
    )


def apply_timing_args(args: argparse.Namespace) -> None:
    """Check the timing flags and set the thread count."""
    if args.repeats < 1 or args.warmup < 0:
        raise SystemExit("error: --repeats must be >= 1 and --warmup >= 0")
    set_threads(args.threads)


def header(args: argparse.Namespace) -> str:
    """One line naming the machine, torch and the timing settings."""
    return (
        f"torch {torch.__version__}, {platform.machine()} {platform.processor() or ''}".rstrip()
        + f", {torch.get_num_threads()} torch threads, {args.repeats} interleaved repeats after {args.warmup} warm-up"
    )


def markdown_table(timings: Mapping[str, Timing], reference: str | None = None, unit: str = "s") -> str:
    """A Markdown table: wall min / median, CPU min / median and the ratios of both medians to ``reference``."""
    scale = {"s": 1.0, "ms": 1e3}[unit]
    head = f"| side | wall min ({unit}) | wall median ({unit}) | CPU min ({unit}) | CPU median ({unit}) |"
    rule = "|---|---|---|---|---|"
    if reference is not None:
        head += f" wall median / {reference} | CPU median / {reference} |"
        rule += "---|---|"
    lines = [head, rule]
    for name, t in timings.items():
        row = (
            f"| {name} | {t.wall_min * scale:.4g} | {t.wall_median * scale:.4g} | {t.cpu_min * scale:.4g} "
            f"| {t.cpu_median * scale:.4g} |"
        )
        if reference is not None:
            ref = timings[reference]
            row += f" {t.wall_median / ref.wall_median:.2f}x | {t.cpu_median / ref.cpu_median:.2f}x |"
        lines.append(row)
    return "\n".join(lines)


def cpu_ratio(side: Timing, reference: Timing) -> float:
    """Median CPU time of ``side`` over that of ``reference``: the figure the bench scripts print last. With one
    thread it measures the code's work, whatever else the machine is doing; the wall ratio is in the tables."""
    return side.cpu_median / reference.cpu_median


def median_ratio(side: Timing, reference: Timing, device: torch.device) -> float:
    """The ratio a bench script prints last: :func:`cpu_ratio` on the CPU, the ratio of wall medians on an
    accelerator, where the host's CPU time counts kernel launches and waits rather than the work."""
    if device.type == "cpu":
        return cpu_ratio(side, reference)
    return side.wall_median / reference.wall_median
