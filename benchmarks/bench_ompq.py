"""OMPQ search time: features + ORM + allocation for a model on N random images (spec ompq.md §3.1–3.2).

``python benchmarks/bench_ompq.py --model resnet18 --batch 32 --size 224 --repeat 3 [--device cuda]``

Random he_fout weights (timing does not depend on the weights); the paper claims 9 s on a GTX 1080Ti.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet18", choices=list(SETTINGS))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.manual_seed(0)
    name = resolve_model(args.model)
    beta, budget, qt, rounding = SETTINGS[args.model]
    model = build_search_model(name, 1000, projection="on" if args.model == "resnet18" else "off")
    infos = enumerate_layers(model, args.size)
    entries = searchable_entries(model, qt)
    params, fl, _, _ = entry_costs(entries, fixed_layers(model, qt), infos, cost_key(name, model))
    model = model.to(args.device)
    x = torch.randn(args.batch, 3, args.size, args.size, device=args.device)
    rows = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        feats = extract_features(model, entries, x)
        t1 = time.perf_counter()
        gamma = gamma_of(orm_matrix(feats))
        t2 = time.perf_counter()
        allocate(negated_importance(gamma, beta), np.array(params) / MIB, budget, fl / MIB, qt, rounding)
        t3 = time.perf_counter()
        rows.append({"features_s": t1 - t0, "orm_s": t2 - t1, "allocation_s": t3 - t2, "total_s": t3 - t0})
    best = min(rows, key=lambda r: r["total_s"])
    print(json.dumps({"model": args.model, "batch": args.batch, "size": args.size, "device": args.device,
                      "threads": torch.get_num_threads(), "best": best, "runs": rows}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
