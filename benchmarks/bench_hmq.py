"""HMQ search-epoch time against a float epoch on the same model and data.

``python benchmarks/bench_hmq.py --network tiny_resnet --batches 20`` times ``--batches`` training
steps on the embedded digits data three ways: float (no HMQ active, network RAdam only), search
(soft HMQs with Gumbel noise, target-compression loss, both optimizers) and fine-tune (hard HMQs),
and prints images/s and the ratio to float. Runs on ``--device`` (CPU by default).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.data import build_datasets, build_loaders  # noqa: E402
from common.runtime import choose_device, make_grad_scaler, seed_everything  # noqa: E402
from hmq.block import HmqControl  # noqa: E402
from hmq.networks import build_hmq_network  # noqa: E402
from hmq.train import StepConfig, build_optimizers, train_epoch  # noqa: E402


def _time(mode: str, args: argparse.Namespace, loader, device: torch.device) -> float:
    seed_everything(0)
    control = HmqControl(noise_device="device")
    model = build_hmq_network(args.network, 10, control).to(device)
    control.quant_weights = control.quant_acts = mode != "float"
    control.temperature = 0.8 if mode == "search" else -1.0
    net_opt, hmq_opt = build_optimizers(model, 1e-3, 1e-4, 0.01, 0.01)
    opts = [hmq_opt, net_opt] if mode == "search" else [net_opt]
    cfg = StepConfig(device, "none", 32.0 if mode == "search" else 0.0, 2.0, 8.0, search=mode == "search")
    scaler = make_grad_scaler(device, False)
    train_epoch(model, loader[:2], opts, scaler, control, cfg)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    train_epoch(model, loader, opts, scaler, control, cfg)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--network", default="tiny_resnet")
    p.add_argument("--image_size", type=int, default=32)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    train, val, _ = build_datasets("digits", preset="digits", image_size=args.image_size)
    tl, _ = build_loaders(train, val, args.batch_size, 0, drop_last=True)
    batches = [b for _, b in zip(range(args.batches), tl, strict=False)]
    images = args.batch_size * len(batches)
    times = {mode: _time(mode, args, batches, device) for mode in ("float", "search", "final")}
    result = {
        "network": args.network,
        "device": str(device),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
        "batches": len(batches),
        **{f"{m}_images_per_s": round(images / t, 1) for m, t in times.items()},
        "search_over_float": round(times["search"] / times["float"], 2),
        "final_over_float": round(times["final"] / times["float"], 2),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
