"""Per-probe spread of hawq.hessian's three trace estimators, on a trained and on a freshly initialised model.

A trace estimator's cost for a given precision is (time per probe) x (probes needed), and the probes needed grow
with the square of the per-probe standard deviation. This script trains ``tiny_resnet`` on the embedded digits
(``--epochs`` of SGD at 32 px, batch 64), then, for that model and for its initial weights, and for every
``--batch-sizes`` Hessian batch (the first images of the train split), runs ``hawq.hessian.hessian_traces`` in each
mode with ``--probes`` probes (``tol 0``) and reports, per mode, the per-probe standard deviation of every layer
(``trace_sum_stderr · √probes``) over that of ``per_layer`` (the exact block products): median, min and max over
the layers, with the CPU seconds of the run. The last lines are ``joint_sd_over_per_layer=…`` and
``ggn_sd_over_per_layer=…``, medians over every layer, model and batch.

Usage::

    python benchmarks/bench_hessian_variance.py [--epochs 3 --probes 60 --batch-sizes 16 32 --threads 1]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from torch import nn

from common.data import build_split
from common.data.transforms import build_transforms
from common.models import build_model
from common.runtime import set_threads
from hawq.hessian import MODES, hessian_traces


def _digits(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = build_split("digits", "train", build_transforms("digits", False, size), image_size=size, seed=0)
    xs = torch.stack([data[i][0] for i in range(len(data))])
    ys = torch.tensor([int(data[i][1]) for i in range(len(data))])
    return xs, ys


def _train(model: nn.Module, xs: torch.Tensor, ys: torch.Tensor, epochs: int, lr: float, seed: int) -> float:
    """Plain SGD (momentum 0.9, batch 64); returns the train accuracy in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(xs), generator=gen)
        for begin in range(0, len(xs), 64):
            idx = order[begin : begin + 64]
            loss = nn.functional.cross_entropy(model(xs[idx]), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return float((model(xs).argmax(1) == ys).float().mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--probes", type=int, default=60)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32])
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads", type=int, default=1, help="torch intra-op and BLAS threads (0: the libraries' defaults)"
    )
    args = p.parse_args()
    set_threads(args.threads)
    if args.probes < 2:
        p.error("--probes must be >= 2 (a standard deviation needs two probes)")
    torch.manual_seed(args.seed)
    xs, ys = _digits(args.image_size)
    model = build_model("tiny_resnet", num_classes=10)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    accuracy = _train(model, xs, ys, args.epochs, args.lr, args.seed)
    trained = {
        k: v.clone() for k, v in model.state_dict().items()
    }  # load_state_dict below overwrites the live one
    states = {f"trained ({args.epochs} epochs, train top-1 {100 * accuracy:.1f} %)": trained, "init": initial}
    print(
        f"tiny_resnet on digits at {args.image_size} px, {args.probes} probes, tol 0, {args.threads} thread(s)\n"
    )
    print(
        "| model | Hessian batch | mode | per-probe sd / per_layer's: median (min-max over layers) | CPU s |"
    )
    print("|---|---|---|---|---|")
    pooled: dict[str, list[float]] = {m: [] for m in MODES if m != "per_layer"}
    for label, state in states.items():
        model.load_state_dict(state)
        for batch in args.batch_sizes:
            x, y = xs[:batch], ys[:batch]
            spread: dict[str, list[float]] = {}
            seconds: dict[str, float] = {}
            for mode in ("per_layer", *pooled):
                started = time.process_time()
                traces = hessian_traces(
                    model, (x, y), max_iter=args.probes, tol=0.0, seed=args.seed, mode=mode
                )
                seconds[mode] = time.process_time() - started
                spread[mode] = [t.trace_sum_stderr * math.sqrt(t.probes) for t in traces.values()]
            print(f"| {label} | {batch} | per_layer | 1 | {seconds['per_layer']:.1f} |")
            for mode in pooled:
                ratios = [a / b for a, b in zip(spread[mode], spread["per_layer"], strict=True)]
                pooled[mode] += ratios
                print(
                    f"| {label} | {batch} | {mode} | {statistics.median(ratios):.2f} "
                    f"({min(ratios):.2f}-{max(ratios):.2f}) | {seconds[mode]:.1f} |"
                )
    print()
    for mode, ratios in pooled.items():
        print(f"{mode}_sd_over_per_layer={statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
