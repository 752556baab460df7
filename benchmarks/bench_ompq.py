"""OMPQ search time: features + ORM + allocation for a model on N random images (docs/ompq.md §3.1–3.2).

``python benchmarks/bench_ompq.py --model resnet18 --batch 32 --size 224 [--repeats 5 --threads 1] [--device cuda]``

Random he_fout weights (timing does not depend on the weights); the paper claims 9 s on a GTX 1080Ti. Each
repetition runs the three steps in order and times each (``benchmarks/sidebyside.py``: wall and CPU time, min and
median); the ORM step is numpy/BLAS work, so ``--threads`` (torch and BLAS together) matters there most.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sidebyside import Timing, add_timing_args, apply_timing_args, header, markdown_table, time_call

from common.layers import enumerate_layers
from ompq.mixed_bit.allocation import MIB, allocate
from ompq.mixed_bit.features import extract_features
from ompq.mixed_bit.orm import gamma_of, negated_importance, orm_matrix
from ompq.mixed_bit.search_model import build_search_model, resolve_model
from ompq.mixed_bit.searchable import cost_key, entry_costs, fixed_layers, searchable_entries

SETTINGS = {
    "resnet18": (10.0, 6.7, "QAT", "dfs"),
    "resnet50": (3.3, 16.0, "QAT", "around"),
    "mobilenetv2": (1e-9, 0.9, "PTQ", "around"),
}
STEPS = (
    "features (one forward, train-mode BN)",
    "ORM (Gram matrices, linear CKA)",
    "allocation (SLSQP + rounding)",
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet18", choices=list(SETTINGS))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--device", default="cpu")
    add_timing_args(p)
    args = p.parse_args()
    apply_timing_args(args)
    torch.manual_seed(0)
    name = resolve_model(args.model)
    beta, budget, qt, rounding = SETTINGS[args.model]
    model = build_search_model(name, 1000, projection="on" if args.model == "resnet18" else "off")
    infos = enumerate_layers(model, args.size)
    entries = searchable_entries(model, qt)
    params, fl, _, _ = entry_costs(entries, fixed_layers(model, qt), infos, cost_key(name, model))
    model = model.to(args.device)
    x = torch.randn(args.batch, 3, args.size, args.size, device=args.device)
    timings = {step: Timing() for step in (*STEPS, "search total")}
    for round_ in range(args.warmup + args.repeats):
        scratch = {step: Timing() for step in timings}
        feats = time_call(lambda: extract_features(model, entries, x), scratch[STEPS[0]])
        gamma = time_call(lambda feats=feats: gamma_of(orm_matrix(feats)), scratch[STEPS[1]])
        time_call(
            lambda gamma=gamma: allocate(
                negated_importance(gamma, beta), np.array(params) / MIB, budget, fl / MIB, qt, rounding
            ),
            scratch[STEPS[2]],
        )
        scratch["search total"].wall.append(sum(scratch[s].wall[0] for s in STEPS))
        scratch["search total"].cpu.append(sum(scratch[s].cpu[0] for s in STEPS))
        if round_ >= args.warmup:
            for step, t in scratch.items():
                timings[step].wall += t.wall
                timings[step].cpu += t.cpu
    print(header(args))
    print(f"\n### OMPQ search, {args.model}, {args.batch} images at {args.size}x{args.size}, {args.device}\n")
    print(markdown_table(timings))
    print(f"\nsearch_total_s={timings['search total'].wall_median:.3f}")


if __name__ == "__main__":
    main()
