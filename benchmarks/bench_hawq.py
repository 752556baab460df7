"""Timing of HAWQ-V3's hot paths against their references (spec ``hawq.md``; DESIGN.md "Performance habits").

Two measurements, printed as Markdown tables:

(a) **QAT training step.** Q-ResNet18 (``hawq.utils.models.build_quantized_model('resnet18')``) configured with
    the shipped ``uniform8`` scheme through ``hawq.utils.quant_config``, with the settings of the published
    commands (``--fix-BN``: BN folded with frozen statistics, model in eval mode; ``--act-range-momentum 0.99``;
    per-channel weights), against the float torchvision ResNet18 on the same input. One step is forward,
    cross-entropy, backward and an SGD update. The two are timed alternately in the same loop after a
    warm-up, so a machine whose load changes during the run affects both alike; the table gives the median
    step, images/s and the ratio quantized / float. ``--compile`` repeats this with ``torch.compile`` on both
    models and reports what it buys, or why it failed.

(b) **Hessian trace.** Hutchinson traces of a small model (``tiny_resnet`` by default) on one batch with the same
    number of Rademacher probes (``tol = 0``, so every probe runs): ``hawq.hessian.hessian_traces`` in its two
    modes (``per_layer``: exact per-layer blocks, one double-backward per layer and probe; ``joint``: one
    double-backward per probe) against PyHessian's ``hessian(...).trace()``, which computes the trace of the
    whole Hessian over the parameters that require grad. For a like-for-like cost, PyHessian is given the same
    conv/linear weights (the other parameters are frozen). Times include each tool's set-up (forward and the
    ``create_graph`` backward).

Usage::

    python benchmarks/bench_hawq.py [--batch 8 --image-size 224 --steps 10 --warmup 3]
        [--hessian-arch tiny_resnet --hessian-batch 32 --probes 20 --hessian-repeats 3] [--compile] [--threads N] [--skip-qat]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torchvision
from torch import nn

from common.models import build_model
from hawq.hessian import hessian_traces, select_layers
from hawq.utils.models import build_quantized_model
from hawq.utils.quant_config import QuantSettings, configure_quant_modules, scheme_module_bits


def quantized_resnet18(image_size: int) -> nn.Module:
    """Q-ResNet18 with the shipped uniform8 bits and the published commands' settings, in eval mode."""
    float_model = torchvision.models.resnet18(weights=None)
    model = build_quantized_model("resnet18", float_model, input_size=image_size)
    bits = scheme_module_bits("resnet18", "uniform8", model)
    settings = QuantSettings(act_range_momentum=0.99, fix_BN=True, channel_wise=True, bias_bit=32)
    configure_quant_modules(model, bits, settings)
    return model.eval()


def make_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()

    def step() -> None:
        loss = criterion(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def time_side_by_side(steps: dict[str, Callable[[], None]], n: int, warmup: int) -> dict[str, list[float]]:
    """Run every step ``warmup`` times, then ``n`` rounds in which each step runs once; seconds per call."""
    for _ in range(warmup):
        for fn in steps.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(n):
        for name, fn in steps.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def qat_rows(args: argparse.Namespace) -> list[tuple[str, float, float, str]]:
    """``(label, median s/step, images/s, note)`` for float and quantized, eager and (optionally) compiled."""
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.image_size, args.image_size)
    y = torch.randint(0, 1000, (args.batch,))
    qmodel = quantized_resnet18(args.image_size)
    fmodel = torchvision.models.resnet18(weights=None)
    fmodel.train(args.float_mode == "train")
    variants: dict[str, Callable[[], None]] = {
        "float ResNet18 (torchvision)": make_step(fmodel, x, y),
        "Q-ResNet18 uniform8 (fix-BN)": make_step(qmodel, x, y),
    }
    notes: dict[str, str] = {}
    if args.compile:
        for label, model in (
            ("float ResNet18, torch.compile", fmodel),
            ("Q-ResNet18 uniform8, torch.compile", qmodel),
        ):
            try:
                compiled = torch.compile(model)
                step = make_step(compiled, x, y)
                start = time.perf_counter()
                step()  # compilation happens here
                notes[label] = f"first call (compile) {time.perf_counter() - start:.1f} s"
                variants[label] = step
            except Exception as exc:  # report any compiler failure instead of crashing the benchmark
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                notes[label] = f"FAILED: {type(exc).__name__}: {first[:200]}"
    times = time_side_by_side(variants, args.steps, args.warmup)
    rows = []
    for label, t in times.items():
        med = statistics.median(t)
        rows.append((label, med, args.batch / med, notes.get(label, "")))
    for label, note in notes.items():
        if label not in times:
            rows.append((label, float("nan"), float("nan"), note))
    return rows


def hessian_rows(args: argparse.Namespace) -> list[tuple[str, float, str]]:
    """``(label, median seconds, note)`` for hawq.hessian per_layer / joint and PyHessian on the same weights.

    The three run in turn, ``--hessian-repeats`` rounds, so that a change of machine load hits all alike.
    """
    torch.manual_seed(0)
    model = build_model(args.hessian_arch, num_classes=10)
    size = args.hessian_image_size
    x = torch.randn(args.hessian_batch, 3, size, size)
    y = torch.randint(0, 10, (args.hessian_batch,))
    names = select_layers(model)
    wanted = {id(m.weight) for n, m in model.named_modules() if n in names}
    try:
        from pyhessian import hessian as pyhessian_hessian
    except ImportError as exc:
        pyhessian_hessian = None
        missing = f"not available: {exc}"

    def ours(mode: str) -> Callable[[], str]:
        def run() -> str:
            traces = hessian_traces(model, (x, y), names, max_iter=args.probes, tol=0.0, seed=0, mode=mode)
            return f"sum of block traces {sum(t.trace_sum for t in traces.values()):.4g}"

        return run

    def theirs() -> str:
        for p in model.parameters():
            p.requires_grad_(id(p) in wanted)
        model.zero_grad(set_to_none=True)
        h = pyhessian_hessian(model, nn.CrossEntropyLoss(), data=(x, y), cuda=False)
        samples = h.trace(maxIter=args.probes, tol=0.0)
        for p in model.parameters():
            p.requires_grad_(True)
            p.grad = None  # PyHessian's create_graph backward leaves graph-holding .grad behind
        return f"trace of the same block set {sum(samples) / len(samples):.4g}"

    runs: dict[str, Callable[[], str]] = {
        "hawq.hessian (per_layer)": ours("per_layer"),
        "hawq.hessian (joint)": ours("joint"),
    }
    if pyhessian_hessian is not None:
        runs["PyHessian trace()"] = theirs
    times: dict[str, list[float]] = {label: [] for label in runs}
    notes: dict[str, str] = {}
    for _ in range(args.hessian_repeats):
        for label, fn in runs.items():
            start = time.perf_counter()
            notes[label] = fn()
            times[label].append(time.perf_counter() - start)
    rows = [(label, statistics.median(t), notes[label]) for label, t in times.items()]
    if pyhessian_hessian is None:
        rows.append(("PyHessian trace()", float("nan"), missing))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--float-mode", choices=("train", "eval"), default="train", help="mode of the float model")
    p.add_argument("--compile", action="store_true", help="also time torch.compile'd models")
    p.add_argument("--skip-qat", action="store_true")
    p.add_argument("--skip-hessian", action="store_true")
    p.add_argument("--hessian-arch", default="tiny_resnet")
    p.add_argument("--hessian-image-size", type=int, default=32)
    p.add_argument("--hessian-batch", type=int, default=32)
    p.add_argument("--probes", type=int, default=20)
    p.add_argument("--hessian-repeats", type=int, default=3, help="rounds of the three trace runs")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, CPU"
    )
    if not args.skip_qat:
        rows = qat_rows(args)
        float_s = rows[0][1]
        print(
            f"\n### QAT step, batch {args.batch} at {args.image_size}x{args.image_size} (median of {args.steps})\n"
        )
        print("| variant | s/step | images/s | vs float eager | note |")
        print("|---|---|---|---|---|")
        for label, sec, ips, note in rows:
            print(f"| {label} | {sec:.4f} | {ips:.1f} | {sec / float_s:.2f}x | {note} |")
    if not args.skip_hessian:
        rows_h = hessian_rows(args)
        ref = rows_h[-1][1]
        print(
            f"\n### Hutchinson trace, {args.hessian_arch} at {args.hessian_image_size}x{args.hessian_image_size}, "
            f"batch {args.hessian_batch}, {args.probes} probes, tol 0, median of {args.hessian_repeats}\n"
        )
        print("| implementation | seconds | images x probes / s | vs PyHessian | note |")
        print("|---|---|---|---|---|")
        for label, sec, note in rows_h:
            rate = args.hessian_batch * args.probes / sec
            print(f"| {label} | {sec:.2f} | {rate:.1f} | {sec / ref:.2f}x | {note} |")


if __name__ == "__main__":
    main()
