"""Timing of HAWQ-V3's hot paths against their references (docs/hawq.md; docs/design.md "Performance habits").

Two measurements, printed as Markdown tables:

(a) **QAT training step.** Q-ResNet18 (``hawq.utils.models.build_quantized_model('resnet18')``) configured with
    the shipped schemes (``--schemes``, default ``uniform8 uniform4``) through ``hawq.utils.quant_config``, with
    the settings of the published commands (``--fix-BN``: BN folded with frozen statistics, model in eval mode;
    ``--act-range-momentum 0.99``; per-channel weights), against the float torchvision ResNet18 on the same input.
    One step is forward, cross-entropy, backward and an SGD update. All sides run in turn in every round
    (``benchmarks/sidebyside.py``); the table gives wall and CPU time, min and median, images/s and the ratio to
    the float step. ``--compile`` adds ``torch.compile`` of both models and reports what it buys, or why it
    failed.

(b) **Hessian trace.** Hutchinson traces of a small model (``tiny_resnet`` by default) on one batch with the same
    number of Rademacher probes (``tol = 0``, so every probe runs): ``hawq.hessian.hessian_traces`` in its three
    modes (``joint``: every layer's trace from one Hessian-vector product per probe; ``per_layer``: exact
    per-layer blocks, one double-backward per layer and probe; ``ggn``: the blocks of a piecewise-linear network
    from one first-order backward per probe, timed when the model is one) against PyHessian's ``hessian(...).trace()``,
    which computes the trace of the whole Hessian over the parameters that require grad. For a like-for-like
    cost, PyHessian is given the same conv/linear weights (the other parameters are frozen) and runs every probe
    (``tol=-inf``: its stop test divides by the running mean without ``abs``, so ``tol=0`` stops after two probes
    when that mean is negative). Times include each
    tool's set-up (forward and the ``create_graph`` backward).

The last lines are ``per_layer_over_pyhessian=…`` (all layers' traces, one product per probe, over PyHessian's
trace; printed when PyHessian is installed, ``pip install -e '.[bench]'``; ``exact_blocks_over_pyhessian=…``,
``ggn_over_pyhessian=…`` and, with ``--before-rev``, ``before_per_layer_over_joint=…`` and
``before_per_layer_over_ggn=…`` come just before), then ``qat_over_float_<scheme>=…`` for
every scheme and, last, ``qat_over_float=…`` (median CPU time of the Q-ResNet18 step of the first scheme over the
float step's; the same figure as ``qat_over_float_<first scheme>``).

Usage::

    python benchmarks/bench_hawq.py [--batch 8 --image-size 224 --repeats 5 --warmup 1 --threads 1]
        [--hessian-arch tiny_resnet --hessian-batch 32 --probes 20] [--schemes uniform8 uniform4] [--compile]
        [--skip-qat] [--skip-hessian] [--before-rev c8ef673] [--qat-before-rev 4335cec]
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch
import torchvision
from sidebyside import (
    Timing,
    add_timing_args,
    apply_timing_args,
    header,
    markdown_table,
    median_ratio,
    time_interleaved,
)
from torch import nn

from common.models import build_model
from common.runtime import UsageError, autocast_context, choose_device
from hawq.gauss_newton import check_piecewise_linear
from hawq.hessian import hessian_traces, select_layers
from hawq.utils.models import build_quantized_model
from hawq.utils.quant_config import QuantSettings, configure_quant_modules, scheme_module_bits


def quantized_resnet18(image_size: int, scheme: str = "uniform8") -> nn.Module:
    """Q-ResNet18 with a shipped scheme and the published commands' settings, in eval mode (fix-BN)."""
    float_model = torchvision.models.resnet18(weights=None)
    model = build_quantized_model("resnet18", float_model, input_size=image_size)
    bits = scheme_module_bits("resnet18", scheme, model)
    settings = QuantSettings(act_range_momentum=0.99, fix_BN=True, channel_wise=True, bias_bit=32)
    configure_quant_modules(model, bits, settings)
    return model.eval()


def make_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, amp: str = "none") -> Callable[[], None]:
    """One SGD step (forward under ``--amp`` autocast, cross-entropy, backward, update), as quant_train runs it."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()

    def step() -> None:
        with autocast_context(x.device, amp != "none", amp):
            loss = criterion(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def load_module_at(
    rev: str, path: str = "hawq/hessian.py", rewrites: dict[str, str] | None = None
) -> ModuleType:
    """Import ``path`` as it was at git revision ``rev`` (``git show rev:path``) under a private module name.

    The old file imports today's ``common`` package; that is enough for ``hawq/hessian.py`` at any revision since
    its first commit, which is what the "before" side of the trace benchmark needs. ``rewrites`` replaces text in
    the old source before it runs (a relative import pointed at another module loaded this way).
    """
    root = Path(__file__).resolve().parents[1]
    try:
        source = subprocess.run(
            ["git", "-C", str(root), "show", f"{rev}:{path}"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"error: cannot read {path} at revision {rev!r}: {exc}") from None
    for old, new in (rewrites or {}).items():
        source = source.replace(old, new)
    name = f"_bench_before_{rev.replace('-', '_').replace('~', '_').replace('^', '_')}_{Path(path).stem}"
    with tempfile.TemporaryDirectory(prefix="bench_before_") as folder:
        file = Path(folder) / f"{name}.py"
        file.write_text(source)
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up by name
        spec.loader.exec_module(module)
    return module


def with_modules_at(model: nn.Module, rev: str) -> nn.Module:
    """A copy of ``model`` whose HAWQ quantization modules run the code of ``quant_modules.py`` / ``quant_utils.py``
    as it was at ``rev``: each module's class is swapped for the old class of the same name (same attributes
    and buffers are assumed, true for revisions since the fix-BN counter became a buffer)."""
    folder = "hawq/utils/quantization_utils"
    old_utils = load_module_at(rev, f"{folder}/quant_utils.py")
    old_modules = load_module_at(
        rev, f"{folder}/quant_modules.py", {"from .quant_utils import": f"from {old_utils.__name__} import"}
    )
    model = copy.deepcopy(model)
    current = build_quantized_model.__module__.rsplit(".", 1)[0] + ".quantization_utils.quant_modules"
    swapped = 0
    for module in model.modules():
        if type(module).__module__ == current:
            module.__class__ = getattr(old_modules, type(module).__name__)
            swapped += 1
    if not swapped:
        raise SystemExit(f"error: no module of {current} in the model to run at {rev}")
    return model


def qat_timings(args: argparse.Namespace) -> tuple[dict[str, Timing], dict[str, str]]:
    """Interleaved step timings of the float model and of Q-ResNet18 per scheme, eager and (optionally) compiled."""
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.image_size, args.image_size, device=args.device)
    y = torch.randint(0, 1000, (args.batch,), device=args.device)
    fmodel = torchvision.models.resnet18(weights=None)
    fmodel.train(args.float_mode == "train")
    models: dict[str, nn.Module] = {"float ResNet18 (torchvision)": fmodel}
    for scheme in args.schemes:
        models[f"Q-ResNet18 {scheme} (fix-BN)"] = quantized_resnet18(args.image_size, scheme)
        if args.qat_before_rev:
            before = with_modules_at(models[f"Q-ResNet18 {scheme} (fix-BN)"], args.qat_before_rev)
            models[f"Q-ResNet18 {scheme} (fix-BN) at {args.qat_before_rev}"] = before
    for model in models.values():
        model.to(args.device)
    sides: dict[str, Callable[[], None]] = {
        label: make_step(m, x, y, args.amp) for label, m in models.items()
    }
    notes: dict[str, str] = {}
    if args.compile:
        for label, model in list(models.items()):
            name = f"{label}, torch.compile"
            try:
                torch._dynamo.reset()
                step = make_step(torch.compile(model), x, y, args.amp)
                start = time.perf_counter()
                step()  # compilation happens here
                notes[name] = f"first call (compile) {time.perf_counter() - start:.1f} s"
                sides[name] = step
            except Exception as exc:  # report any compiler failure instead of crashing the benchmark
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                notes[name] = f"FAILED: {type(exc).__name__}: {first[:200]}"
    timings = time_interleaved(sides, args.repeats, args.warmup)
    for label, model in models.items():
        if args.qat_before_rev and label.endswith(f" at {args.qat_before_rev}"):
            now = models[label.removesuffix(f" at {args.qat_before_rev}")].state_dict()
            same = all(
                torch.equal(a, b) for a, b in zip(now.values(), model.state_dict().values(), strict=True)
            )
            notes[label] = f"state after the same steps bit-identical to today's: {same}"
    return timings, notes


def hessian_timings(args: argparse.Namespace) -> tuple[dict[str, Timing], dict[str, str]]:
    """Interleaved timings of hawq.hessian (joint, per_layer) and PyHessian's trace() on the same weights."""
    torch.manual_seed(0)
    model = build_model(args.hessian_arch, num_classes=10).to(args.device)
    size = args.hessian_image_size
    x = torch.randn(args.hessian_batch, 3, size, size, device=args.device)
    y = torch.randint(0, 10, (args.hessian_batch,), device=args.device)
    names = select_layers(model)
    wanted = {id(m.weight) for n, m in model.named_modules() if n in names}
    notes: dict[str, str] = {}

    def ours(mode: str, probe_rng: str = "auto", label: str = "") -> Callable[[], None]:
        label = label or f"hawq.hessian ({mode})"

        def run() -> None:
            traces = hessian_traces(
                model, (x, y), names, max_iter=args.probes, tol=0.0, seed=0, mode=mode, probe_rng=probe_rng
            )
            notes[label] = f"sum of block traces {sum(t.trace_sum for t in traces.values()):.4g}"

        return run

    sides: dict[str, Callable[[], None]] = {
        "hawq.hessian (joint)": ours("joint"),
        "hawq.hessian (per_layer)": ours("per_layer"),
    }
    try:
        check_piecewise_linear(model)
    except UsageError as exc:
        notes["hawq.hessian (ggn)"] = f"not timed: {exc}"
    else:
        sides["hawq.hessian (ggn)"] = ours("ggn")
    if args.device.type != "cpu":  # the probes drawn on the host, as before probe_rng existed
        label = "hawq.hessian (joint, host probes)"
        sides[label] = ours("joint", "cpu", label)
    if args.before_rev:
        old = load_module_at(args.before_rev)
        label = f"hawq.hessian at {args.before_rev} (per_layer)"

        def before() -> None:
            traces = old.hessian_traces(
                model, (x, y), names, max_iter=args.probes, tol=0.0, seed=0, mode="per_layer"
            )
            notes[label] = f"sum of block traces {sum(t.trace_sum for t in traces.values()):.4g}"

        sides[label] = before
    try:
        from pyhessian import hessian as pyhessian_hessian
    except ImportError as exc:
        notes["PyHessian trace()"] = f"not available: {exc} (pip install -e '.[bench]')"
    else:

        def theirs() -> None:
            for p in model.parameters():
                p.requires_grad_(id(p) in wanted)
            model.zero_grad(set_to_none=True)
            h = pyhessian_hessian(model, nn.CrossEntropyLoss(), data=(x, y), cuda=args.device.type == "cuda")
            # PyHessian's stop test divides by the running mean without abs(): with tol=0 it stops after two
            # probes whenever that mean is negative, so -inf is what makes it run every probe
            samples = h.trace(maxIter=args.probes, tol=float("-inf"))
            if len(samples) != args.probes:
                raise RuntimeError(f"PyHessian ran {len(samples)} of {args.probes} probes")
            for p in model.parameters():
                p.requires_grad_(True)
                p.grad = None  # PyHessian's create_graph backward leaves graph-holding .grad behind
            notes["PyHessian trace()"] = f"trace of the same block set {sum(samples) / len(samples):.4g}"

        sides["PyHessian trace()"] = theirs
    return time_interleaved(sides, args.repeats, args.warmup), notes


def _notes(notes: dict[str, str]) -> str:
    return "\n".join(f"- {label}: {note}" for label, note in notes.items())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument(
        "--schemes", nargs="+", default=["uniform8", "uniform4"], help="shipped Q-ResNet18 schemes"
    )
    p.add_argument("--float-mode", choices=("train", "eval"), default="train", help="mode of the float model")
    p.add_argument("--compile", action="store_true", help="also time torch.compile'd models")
    p.add_argument(
        "--qat-before-rev",
        metavar="REV",
        help="also time each scheme's step with the quantization modules as they were at this git revision",
    )
    p.add_argument("--skip-qat", action="store_true")
    p.add_argument("--skip-hessian", action="store_true")
    p.add_argument("--hessian-arch", default="tiny_resnet")
    p.add_argument("--hessian-image-size", type=int, default=32)
    p.add_argument("--hessian-batch", type=int, default=32)
    p.add_argument("--probes", type=int, default=20)
    p.add_argument(
        "--before-rev",
        metavar="REV",
        help="also time hawq/hessian.py's per_layer mode as it was at this git revision (e.g. c8ef673, the "
        "code when issue 14 was filed) and print before_per_layer_over_joint=",
    )
    p.add_argument(
        "--device", default="cpu", help="cpu, cuda or auto; on an accelerator the ratios are wall medians"
    )
    p.add_argument(
        "--amp", choices=("none", "bf16", "fp16"), default="none", help="autocast of the QAT steps' float ops"
    )
    add_timing_args(p)
    args = p.parse_args()
    apply_timing_args(args)
    args.device = choose_device(args.device)
    print(header(args))
    ratios: list[str] = []
    qat_lines: list[str] = []
    if not args.skip_qat:
        timings, notes = qat_timings(args)
        reference = next(iter(timings))
        print(f"\n### QAT step, batch {args.batch} at {args.image_size}x{args.image_size}\n")
        print(markdown_table(timings, reference))
        for label, t in timings.items():
            print(f"- {label}: {args.batch / t.wall_median:.1f} images/s (wall median)")
        if notes:
            print(_notes(notes))
        for scheme in reversed(args.schemes):
            ratio = median_ratio(timings[f"Q-ResNet18 {scheme} (fix-BN)"], timings[reference], args.device)
            qat_lines.append(f"qat_over_float_{scheme}={ratio:.3f}")
        first = median_ratio(
            timings[f"Q-ResNet18 {args.schemes[0]} (fix-BN)"], timings[reference], args.device
        )
        qat_lines.append(f"qat_over_float={first:.3f}")
    if not args.skip_hessian:
        timings, notes = hessian_timings(args)
        print(
            f"\n### Hutchinson traces, {args.hessian_arch} at {args.hessian_image_size}x{args.hessian_image_size}, "
            f"batch {args.hessian_batch}, {args.probes} probes, tol 0\n"
        )
        print(markdown_table(timings, "PyHessian trace()" if "PyHessian trace()" in timings else None))
        print(_notes(notes))
        if "PyHessian trace()" in timings:
            ref = timings["PyHessian trace()"]
            exact = median_ratio(timings["hawq.hessian (per_layer)"], ref, args.device)
            print(f"\nexact_blocks_over_pyhessian={exact:.3f}")
            ggn = timings.get("hawq.hessian (ggn)")
            if ggn is not None:
                print(f"ggn_over_pyhessian={median_ratio(ggn, ref, args.device):.3f}")
            if args.before_rev:
                old_side = timings[f"hawq.hessian at {args.before_rev} (per_layer)"]
                gain = median_ratio(old_side, timings["hawq.hessian (joint)"], args.device)
                print(f"before_per_layer_over_joint={gain:.3f}")
                if ggn is not None:
                    print(f"before_per_layer_over_ggn={median_ratio(old_side, ggn, args.device):.3f}")
            ratios.append(
                f"per_layer_over_pyhessian={median_ratio(timings['hawq.hessian (joint)'], ref, args.device):.3f}"
            )
    print()
    for line in ratios + qat_lines:
        print(line)


if __name__ == "__main__":
    main()
