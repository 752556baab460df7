"""Seconds per HAQ RL episode (search fine-tune + validation + agent updates) on the CPU or GPU.

``python benchmarks/bench_haq.py [--episodes 3] [--train_size 256] [--device auto] [--which digits mbv2]``
times ``haq.rl_quantize`` on the embedded digits data: K-means mode on ``tiny_resnet`` (32x32) and on HAQ's
``mobilenetv2`` at 224x224 (digits rendered at 224), and linear mode on ``qtiny_mobilenet_v2`` with an analytic
latency table. Start-up (model build, float accuracy) is excluded: the figure is the wall time of the episode loop divided
by the number of episodes; the time inside the end-of-episode quantize/fine-tune/validate is shown beside it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from haq import rl_quantize
from haq.lib.simulator import build_table

CASES = {
    "digits": [
        ("tiny_resnet", [], "K-means 0.1"),
        ("qtiny_mobilenet_v2", ["--linear_quantization"], "linear 0.6"),
    ],
    "mbv2": [("mobilenetv2", [], "K-means 0.1")],
}


def time_case(arch: str, extra: list[str], args: argparse.Namespace, tmp: Path) -> float:
    argv = ["--arch", arch, "--dataset", "digits", "--pretrained", "none", "--train_episode", str(args.episodes),
            "--warmup", "0", "--train_size", str(args.train_size), "--val_size", str(args.train_size // 2),
            "--data_bsize", "64", "--n_worker", "0", "--bsize", "16", "--output", str(tmp), "--device", args.device]  # fmt: skip
    if extra:
        table = build_table.main(["--arch", arch, "--dataset", "digits", "--out", str(tmp / f"{arch}.npy")])
        argv += [
            *extra,
            "--min_bit",
            "2",
            "--float_bit",
            "8",
            "--preserve_ratio",
            "0.6",
            "--latency_table",
            str(table),
        ]
    else:
        argv += ["--preserve_ratio", "0.1"]
    rl_quantize.main(argv)
    return 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--train_size", type=int, default=256)
    p.add_argument("--device", default="auto")
    p.add_argument("--which", nargs="+", default=["digits", "mbv2"], choices=list(CASES))
    args = p.parse_args()
    for group in args.which:
        for arch, extra, label in CASES[group]:
            with tempfile.TemporaryDirectory() as tmp:
                times: list[float] = []
                orig_train = rl_quantize.train

                def timed_train(*a, times=times, orig_train=orig_train, **k):
                    env = a[2]
                    inner = env.evaluate

                    def clocked(strategy, inner=inner, times=times):
                        t0 = time.perf_counter()
                        out = inner(strategy)
                        times.append(time.perf_counter() - t0)
                        return out

                    env.evaluate = clocked
                    t0 = time.perf_counter()
                    res = orig_train(*a, **k)
                    times.append(-(time.perf_counter() - t0))
                    return res

                rl_quantize.train = timed_train
                try:
                    time_case(arch, extra, args, Path(tmp))
                finally:
                    rl_quantize.train = orig_train
                total = -times[-1]
                per_episode = total / args.episodes
                evals = times[:-1]
                print(f"{arch:22s} {label:12s} {per_episode:8.2f} s/episode (evaluate {sum(evals) / len(evals):.2f} s; "
                      f"train_size {args.train_size}, {args.episodes} episodes)")  # fmt: skip


if __name__ == "__main__":
    main()
