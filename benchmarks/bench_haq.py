"""Seconds per HAQ RL episode (search fine-tune + validation + agent updates) on the CPU or GPU.

``python benchmarks/bench_haq.py [--episodes 5] [--train_size 256] [--device auto] [--which digits mbv2] [--threads 1]``
times ``haq.rl_quantize`` on the embedded digits data: K-means mode on ``tiny_resnet`` (32x32) and on HAQ's
``mobilenetv2`` at 224x224 (digits rendered at 224), and linear mode on ``qtiny_mobilenet_v2`` with an analytic
latency table. Start-up (model build, float accuracy) is excluded: each episode's end-of-episode quantize /
fine-tune / validate call is timed (wall and CPU time; min and median over the episodes), and the whole episode
loop divided by the number of episodes is shown beside it. The episodes of one search are the repetitions.

Then the fine-tune step itself, side by side (``benchmarks/sidebyside.py``): one SGD step (momentum 0.9, weight decay
4e-5, as the episode's fine-tune) of the float ``--step_arch`` without its ``q`` (``tiny_mobilenet_v2``) and of the
linear-quantized one (every layer at ``--step_bits`` W/A after calibration), ``--step_batch`` random images;
``--repeats`` interleaved rounds after ``--warmup``. The last line is ``linear_step_over_float=`` (CPU medians).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from sidebyside import Timing, markdown_table, median_ratio, time_call, time_interleaved

from common.runtime import set_threads
from haq import rl_quantize
from haq.lib.simulator import build_table
from haq.lib.utils.linear_quant import QUANT_TYPES, calibrate, set_bits
from haq.models import build_haq_model, input_size_of

CASES = {
    "digits": [
        ("tiny_resnet", [], "K-means 0.1"),
        ("qtiny_mobilenet_v2", ["--linear_quantization"], "linear 0.6"),
    ],
    "mbv2": [("mobilenetv2", [], "K-means 0.1")],
}


class ClockedEpisode:
    """Stands in for the environment's episode function: times every call, forwards everything else (the search
    state reads and writes attributes of the episode function, such as ``calls`` and ``train_loader``)."""

    def __init__(self, inner: Any, timing: Timing) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_timing", timing)

    def __call__(self, strategy: Any) -> Any:
        return time_call(lambda: self._inner(strategy), self._timing)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)


def time_case(arch: str, extra: list[str], args: argparse.Namespace, tmp: Path) -> tuple[Timing, float]:
    """Run one search; return the timing of its episode calls and the loop's seconds per episode."""
    argv = ["--arch", arch, "--dataset", "digits", "--pretrained", "none", "--train_episode", str(args.episodes),
            "--warmup", "0", "--train_size", str(args.train_size), "--val_size", str(args.train_size // 2),
            "--data_bsize", "64", "--n_worker", "0", "--bsize", "16", "--output", str(tmp), "--device", args.device]  # fmt: skip
    if extra:
        table = build_table.main(["--arch", arch, "--dataset", "digits", "--out", str(tmp / f"{arch}.npy")])
        argv += [*extra, "--min_bit", "2", "--float_bit", "8", "--preserve_ratio", "0.6", "--latency_table", str(table)]  # fmt: skip
    else:
        argv += ["--preserve_ratio", "0.1"]
    episodes = Timing()
    loop: list[float] = []
    original_train = rl_quantize.train

    def timed_train(*a: Any, **k: Any) -> Any:
        env = a[2]
        env.evaluate = ClockedEpisode(env.evaluate, episodes)
        start = time.perf_counter()
        try:
            return original_train(*a, **k)
        finally:
            loop.append(time.perf_counter() - start)

    rl_quantize.train = timed_train
    try:
        rl_quantize.main(argv)
    finally:
        rl_quantize.train = original_train
    return episodes, loop[0] / args.episodes


def sgd_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Any:
    """One training step of ``model`` on ``(x, y)`` with the episode fine-tune's optimizer settings."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=4e-5)

    def step() -> None:
        model.train()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def time_linear_step(args: argparse.Namespace) -> tuple[dict[str, Timing], torch.device]:
    """Float against linear-quantized training step of ``args.step_arch``, interleaved."""
    torch.manual_seed(0)
    device = torch.device("cuda" if args.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
    size = input_size_of(args.step_arch)
    x = torch.randn(args.step_batch, 3, size, size, device=device)
    y = torch.randint(0, 10, (args.step_batch,), device=device)
    float_model = build_haq_model(args.step_arch[1:], 10).to(device)
    quant_model = build_haq_model(args.step_arch, 10).to(device)
    n_layers = sum(type(m) in QUANT_TYPES for m in quant_model.modules())
    set_bits(quant_model, [(args.step_bits, args.step_bits)] * n_layers)
    quant_model.train()
    calibrate(quant_model, x)
    sides = {
        "float step": sgd_step(float_model, x, y),
        f"linear W{args.step_bits}/A{args.step_bits} step": sgd_step(quant_model, x, y),
    }
    return time_interleaved(sides, args.repeats, args.warmup), device


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--train_size", type=int, default=256)
    p.add_argument("--device", default="auto")
    p.add_argument("--which", nargs="+", default=["digits", "mbv2"], choices=list(CASES))
    p.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (0: library defaults)")
    p.add_argument(
        "--step_arch", default="qtiny_mobilenet_v2", help="linear-mode model of the step comparison"
    )
    p.add_argument(
        "--step_bits", type=int, default=4, help="W and A bits of every layer in the step comparison"
    )
    p.add_argument("--step_batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds of the step comparison")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    args = p.parse_args()
    if args.repeats < 1 or args.warmup < 0 or args.step_batch < 1 or args.step_bits < 2:
        raise SystemExit("error: --repeats and --step_batch must be >= 1, --warmup >= 0, --step_bits >= 2")
    set_threads(args.threads)
    print(f"episodes {args.episodes}, train_size {args.train_size}, threads {args.threads}\n")
    print("| model | mode | loop s/episode | episode call wall min / median (s) | CPU min / median (s) |")
    print("|---|---|---|---|---|")
    for group in args.which:
        for arch, extra, label in CASES[group]:
            with tempfile.TemporaryDirectory() as tmp:
                t, per_episode = time_case(arch, extra, args, Path(tmp))
            print(
                f"| {arch} | {label} | {per_episode:.2f} | {t.wall_min:.2f} / {t.wall_median:.2f} "
                f"| {t.cpu_min:.2f} / {t.cpu_median:.2f} |",
                flush=True,
            )
    timings, device = time_linear_step(args)
    float_side, quant_side = timings
    print(
        f"\n### training step of {args.step_arch}, batch {args.step_batch}, {device}, {args.repeats} interleaved repeats\n"
    )
    print(markdown_table(timings, float_side))
    print(f"\nlinear_step_over_float={median_ratio(timings[quant_side], timings[float_side], device):.3f}")


if __name__ == "__main__":
    main()
