"""HMQ search-epoch time against a float epoch on the same model and data.

``python benchmarks/bench_hmq.py --network tiny_resnet --batches 20 [--repeats 5 --threads 1]`` times an epoch of
``--batches`` training steps on the embedded digits data three ways: float (no HMQ active, network RAdam only),
search (soft HMQs with Gumbel noise, target-compression loss, both optimizers) and fine-tune (hard HMQs). The
quantized sides start from a statistics pass over the same batches (activation thresholds, as ``hmq.main``). The
three run in turn in every round (``benchmarks/sidebyside.py``); it prints wall and CPU time (min, median),
images/s and the ratio to float. Runs on ``--device`` (CPU by default).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch
from sidebyside import (
    add_timing_args,
    apply_timing_args,
    header,
    markdown_table,
    median_ratio,
    time_interleaved,
)

from common.data import build_datasets, build_loaders
from common.runtime import choose_device, make_grad_scaler, seed_everything
from hmq.block import HmqControl
from hmq.networks import build_hmq_network
from hmq.train import StepConfig, build_optimizers, statistics_pass, train_epoch

MODES = ("float", "search", "final")


def epoch_fn(
    mode: str, network: str, batches: list, device: torch.device, amp: str = "none"
) -> Callable[[], None]:
    """One training epoch over ``batches`` in ``mode``, on a model and optimizers of its own."""
    seed_everything(0)
    control = HmqControl(noise_device="device")
    model = build_hmq_network(network, 10, control).to(device)
    control.quant_weights = control.quant_acts = mode != "float"
    if mode != "float":  # activation thresholds from the data, as hmq.main does before searching
        statistics_pass(model, batches, control, device)
    control.temperature = 0.8 if mode == "search" else -1.0
    net_opt, hmq_opt = build_optimizers(model, 1e-3, 1e-4, 0.01, 0.01)
    opts = [hmq_opt, net_opt] if mode == "search" else [net_opt]
    cfg = StepConfig(device, amp, 32.0 if mode == "search" else 0.0, 2.0, 8.0, search=mode == "search")
    scaler = make_grad_scaler(device, amp != "none", amp)

    def run() -> None:
        train_epoch(model, batches, opts, scaler, control, cfg)

    return run


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--network", default="tiny_resnet")
    p.add_argument("--image_size", type=int, default=32)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--amp", choices=("none", "bf16", "fp16"), default="none", help="autocast, as hmq.main --amp"
    )
    add_timing_args(p)
    args = p.parse_args()
    apply_timing_args(args)
    device = choose_device(args.device)
    train, val, _ = build_datasets("digits", preset="digits", image_size=args.image_size)
    tl, _ = build_loaders(train, val, args.batch_size, 0, drop_last=True)
    batches = [b for _, b in zip(range(args.batches), tl, strict=False)]
    images = args.batch_size * len(batches)
    sides = {mode: epoch_fn(mode, args.network, batches, device, args.amp) for mode in MODES}
    timings = time_interleaved(sides, args.repeats, args.warmup)
    print(header(args))
    print(
        f"\n### {args.network}, {len(batches)} steps of batch {args.batch_size} at {args.image_size} px, {device}, amp {args.amp}\n"
    )
    print(markdown_table(timings, "float"))
    for mode, t in timings.items():
        print(f"- {mode}: {images / t.wall_median:.1f} images/s (wall median)")
    print(f"\nsearch_over_float={median_ratio(timings['search'], timings['float'], device):.3f}")
    print(f"final_over_float={median_ratio(timings['final'], timings['float'], device):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
