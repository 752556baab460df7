"""Seconds per ProQHA search-round component on CPU (or the chosen device): digits (CIFAR ResNet-20) and ImageNet
ResNet-18 at 224x224, and the float-vs-quantized training step they are made of.

A round = ``lam`` one-batch candidate scores + ``search_epochs`` fine-tuning epochs + one evaluation; the
fine-tuning is reported per training step so that any epoch length can be extrapolated. The quantized and float
steps run in turn in every round, and the candidate scoring is repeated as a third side
(``benchmarks/sidebyside.py``: wall and CPU time, min and median). Usage::

    python benchmarks/bench_proqha.py --device cpu --lam 4 --batch 32 [--repeats 5 --threads 1] [--skip-imagenet]
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from sidebyside import (
    add_timing_args,
    apply_timing_args,
    header,
    markdown_table,
    median_ratio,
    time_interleaved,
)

from proqha.bits import set_bits
from proqha.cost import cost_model
from proqha.models import build_quant_model, to_float
from proqha.progressive.score import AdamConfig
from proqha.progressive.search import SearchConfig, score_candidates


def train_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    """One SGD step of ``model`` in train mode on ``(x, y)``."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step() -> None:
        model.train()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def bench(dataset: str, arch: str, depth: int, size: int, args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    model, layout = build_quant_model(dataset, arch, depth, 10)
    model.to(device)
    x = torch.randn(args.batch, 3, size, size, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    set_bits(model, [4] * len(list(cost_model(model).weight_sizes)) * 2)
    float_model = to_float(copy.deepcopy(model))
    cfg = SearchConfig(lam=args.lam, adam=AdamConfig())
    scoring_model = copy.deepcopy(model)

    def scoring() -> None:
        score_candidates(scoring_model, lambda: (x, y), cfg, cost_model(scoring_model), device, float("nan"))

    sides = {
        "float train step": train_step(float_model, x, y),
        "quantized train step": train_step(model, x, y),
        f"scoring, {args.lam} candidates": scoring,
    }
    timings = time_interleaved(sides, args.repeats, args.warmup)
    print(f"\n### {layout.common_arch} {size}x{size}, batch {args.batch}, {device}\n")
    print(markdown_table(timings, "float train step"))
    per_candidate = timings[f"scoring, {args.lam} candidates"].wall_median / args.lam
    ratio = median_ratio(timings["quantized train step"], timings["float train step"], device)
    print(f"\nscoring_s_per_candidate={per_candidate:.3f}")
    print(f"quant_step_over_float={ratio:.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--lam", type=int, default=4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--skip-imagenet", action="store_true")
    add_timing_args(p)
    args = p.parse_args()
    apply_timing_args(args)
    print(header(args))
    bench("digits", "resnet20", 20, 32, args)
    if not args.skip_imagenet:
        bench("imagenet", "resnet", 18, 224, args)


if __name__ == "__main__":
    main()
