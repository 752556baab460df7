"""Seconds per ProQHA search round on CPU (or the chosen device): digits (CIFAR ResNet-20) and ImageNet
ResNet-18 at 224x224, and the float-vs-quantized training step they are made of.

A round = ``lam`` one-batch candidate scores + ``search_epochs`` fine-tuning epochs + one evaluation; the
fine-tuning is reported per training step so that any epoch length can be extrapolated. Usage::

    python benchmarks/bench_proqha.py --device cpu --lam 4 --batch 32
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch
import torch.nn.functional as F

from proqha.bits import set_bits
from proqha.cost import cost_model
from proqha.models import build_quant_model, to_float
from proqha.progressive.score import AdamConfig
from proqha.progressive.search import SearchConfig, score_candidates


def _step_seconds(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    model.train()
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return min(times[1:])


def bench(dataset: str, arch: str, depth: int, size: int, batch: int, lam: int, device: torch.device) -> dict:
    model, layout = build_quant_model(dataset, arch, depth, 10)
    model.to(device)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    set_bits(model, [4] * len(list(cost_model(model).weight_sizes)) * 2)
    cfg = SearchConfig(lam=lam, adam=AdamConfig())
    t = time.perf_counter()
    score_candidates(model, lambda: (x, y), cfg, cost_model(model), device, float("nan"))
    scoring = time.perf_counter() - t
    quant_step = _step_seconds(model, x, y, 2)
    float_step = _step_seconds(to_float(copy.deepcopy(model)), x, y, 2)
    return {
        "model": f"{layout.common_arch} {size}x{size}",
        "batch": batch,
        "lam": lam,
        "scoring_s_per_round": round(scoring, 3),
        "scoring_s_per_candidate": round(scoring / lam, 3),
        "quant_train_step_s": round(quant_step, 4),
        "float_train_step_s": round(float_step, 4),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--lam", type=int, default=4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--skip-imagenet", action="store_true")
    args = p.parse_args()
    device = torch.device(args.device)
    rows = [bench("digits", "resnet20", 20, 32, args.batch, args.lam, device)]
    if not args.skip_imagenet:
        rows.append(bench("imagenet", "resnet", 18, 224, args.batch, args.lam, device))
    print(json.dumps({"device": str(device), "threads": torch.get_num_threads(), "results": rows}, indent=1))


if __name__ == "__main__":
    main()
