"""Size-accuracy Pareto figure from a sweep of runs, next to the published points (docs/hmq.md 6.1).

``python -m hmq.pareto ROOT --out pareto.png`` reads every ``ROOT/*/final.json`` written by
:mod:`hmq.main` (network, ``size_MB`` = sum of b*n/8/10^6 over HMQ-quantized weights, ``top1``) and
draws one line per network, with the README figure's points dashed. It also prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from common.runtime import UsageError, check_output_file, run_main, save_figure

PUBLISHED = Path(__file__).with_name("published.json")
CANONICAL = {"efficientnet_b0": "efficient_net"}


def collect(root: Path) -> dict[str, list[tuple[float, float]]]:
    """network -> sorted (size_MB, top1) of every finished run under ``root``."""
    found: dict[str, list[tuple[float, float]]] = {}
    for path in sorted(root.glob("*/final.json")):
        final = json.loads(path.read_text())
        net = CANONICAL.get(final["network_name"], final["network_name"])
        found.setdefault(net, []).append((float(final["size_MB"]), float(final["top1"])))
    return {k: sorted(v) for k, v in found.items()}


def plot(ours: dict[str, list[tuple[float, float]]], out: Path) -> Path:
    """Write the PNG; published points dashed, ours solid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    published = json.loads(PUBLISHED.read_text())["points"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, net in enumerate(sorted(set(published) | set(ours))):
        color = f"C{i}"
        if net in published:
            xs, ys = zip(*published[net], strict=True)
            ax.plot(xs, ys, "--o", color=color, alpha=0.5, label=f"{net} (paper)")
        if net in ours:
            xs, ys = zip(*ours[net], strict=True)
            ax.plot(xs, ys, "-s", color=color, label=f"{net} (ours)")
    ax.set_xlabel("Size [MB]")
    ax.set_ylabel("Top-1 [%]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hmq.pareto", description=__doc__.split("\n\n")[0])
    p.add_argument("root", type=Path, help="folder holding one run folder per sweep point")
    p.add_argument("--out", type=Path, default=None, help="PNG to write (default ROOT/pareto.png)")
    args = p.parse_args(argv)
    if not args.root.is_dir():
        raise UsageError(f"not a folder: {args.root}")
    check_output_file("--out", args.out or args.root / "pareto.png")
    ours = collect(args.root)
    if not ours:
        raise UsageError(f"no */final.json under {args.root}")
    print("| network | size MB | top-1 % |\n|---|---|---|")
    for net, points in ours.items():
        for size, top1 in points:
            print(f"| {net} | {size:.3f} | {top1:.2f} |")
    plot(ours, args.out or args.root / "pareto.png")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
