"""``python -m reproduce.compare``: the five methods side by side under one budget, on any model and data.

``--arch`` is a registered model (``tiny_resnet``, ``tiny_mobilenet_v2``, ``resnet20``, ``resnet18``, ``resnet50``,
``mobilenet_v2``, ...), ``--data`` is ``digits``, ``cifar10:/path`` or an ImageFolder root (``train/``, ``val/``),
``--image-size`` the side of the images; the number of classes is taken from the data. Each adapter says whether it
can search that model on that data (``Method.unsupported``): a pair it cannot run is a table row reading
"unsupported: <reason>" (or a one-line error when the method was named in ``--methods``).

Steps, each resumable (a step whose ``step.json`` exists is read back, not rerun; ``--force`` reruns):

1. the float model trained once (``reproduce.baseline_digits``), or ``--float-checkpoint``;
2. uniform W8A8 and W4A4 (first and last layer at W8A8) fine-tuned on the common QAT path;
3. per method: the search under the budget (wall seconds and images drawn from the data are counted
   around it), its cost measured by :mod:`reproduce.compare.budget`, the fine-tune with the method's own
   code, and the fine-tune of the same bit config on the common QAT path (HAWQ-V3's modules).

Outputs under ``--out``: ``compare.md``, ``compare.csv``, ``pareto.png``, ``bits.png``, ``results.json`` and one folder per
step. A method that fails is reported in the table with its error; the others still run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from common.bitconfig import read_bitconfig, uniform_bitconfig, write_bitconfig
from common.data.embedded import DigitsDataset
from common.runtime import (
    add_threads_arg,
    atomic_write_text,
    check_at_least,
    check_output_dir,
    check_positive,
    check_range,
    check_state_dict_fits,
    load_checkpoint,
    run_main,
    seed_everything,
    set_resume_hint,
    set_threads,
    state_dict_from,
    write_json_atomic,
)
from common.runtime.errors import UsageError
from reproduce.compare.budget import PINNED_BITS, Budget, bench_layers, measure, pinned_layers, within
from reproduce.compare.common_qat import common_qat_unsupported, finetune_common
from reproduce.compare.launch import (
    amp_flags,
    distributed,
    loader_workers,
    per_process_batch,
    run_step,
    sync_bn_flags,
    world_size,
)
from reproduce.compare.method import Context, Recipe
from reproduce.compare.methods import NAMES, load_method
from reproduce.compare.report import bit_chart, bits_string, pareto_plot, to_csv, to_markdown
from reproduce.compare.seeds import mark_ties, merge_seeds

#: the effort presets and the fine-tuning epochs each gives the shared recipe (custom: --epochs must be given);
#: paper: HAWQ-V3's and OMPQ's 90-epoch QAT (HMQ fine-tunes 20, HAQ and ProQHA 30: one recipe serves all)
EFFORTS = ("quick", "paper", "custom")
EPOCHS = {"quick": 2, "paper": 90}

#: the architectures the benchmark is documented and tested with (any registered model is accepted)
ARCHES = ("tiny_resnet", "tiny_mobilenet_v2", "resnet20", "resnet18", "resnet50", "mobilenet_v2")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reproduce.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/reproduce/compare"))
    p.add_argument(
        "--methods",
        default=None,
        help=f"comma-separated subset of {','.join(NAMES)} (default: all; pairs a method cannot run are "
        "reported as unsupported, while a named one that cannot run is an error)",
    )
    p.add_argument("--arch", default="tiny_resnet", help=f"registered model, e.g. {', '.join(ARCHES)}")
    p.add_argument("--data", default="digits", help="digits, cifar10:/path or an ImageFolder root")
    p.add_argument("--image-size", type=int, default=32, help="image side in pixels")
    p.add_argument(
        "--wbits", type=float, default=4.5, help="budget: average weight bits of the searched layers"
    )
    p.add_argument("--abits", type=float, default=4.5, help="budget: activation bits in the reference BOPs")
    p.add_argument(
        "--effort",
        choices=EFFORTS,
        default="quick",
        help="quick: CPU-sized searches (the default of make reproduce); paper: each paper's own search effort "
        "(every adapter's docstring lists it); custom: the quick searches with --epochs required",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"fine-tuning epochs (every method, both paths); default by --effort: {EPOCHS}",
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--wd", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0, help="the first seed")
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="run every search and fine-tune for seeds --seed .. --seed+N-1; the table gives mean ± std",
    )
    p.add_argument("--baseline-epochs", type=int, default=15, help="epochs of the float model")
    p.add_argument(
        "--float-checkpoint",
        type=Path,
        default=None,
        help="use this float --arch model (its run folder's final.json gives the float top-1) instead of training one",
    )
    p.add_argument("--no-common-qat", action="store_true", help="skip the common QAT path for the methods")
    p.add_argument(
        "--common-acts",
        choices=("unsigned", "hawq"),
        default="unsigned",
        help="common QAT path: every activation below 8 bits unsigned (default) or HAWQ-V3's rule (only 4-bit ones)",
    )
    p.add_argument("--quick", action="store_true", help="tiny settings everywhere (tests, smoke runs)")
    p.add_argument("--force", action="store_true", help="rerun steps that have finished")
    p.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="also write <arch>_<data>_<effort>.csv there and regenerate its README.md (e.g. results/compare)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--dali",
        action="store_true",
        help="the common QAT fine-tunes (HAWQ-V3's own included) and OMPQ's QAT read the ImageFolder --data through "
        "NVIDIA DALI (pip install -e '.[dali]'; GPU decoding with --device cuda; its own data order, the whole "
        "training set even with --quick)",
    )
    p.add_argument(
        "--nproc-per-node",
        type=int,
        default=1,
        help="launch every training step with torchrun and N processes (gloo on CPU, NCCL with --device cuda): the "
        "float model, the common QAT fine-tunes, the methods' own fine-tunes and HAWQ-V3's, HAQ's, HMQ's and ProQHA's "
        "searches; HAWQ-V3's ILP and OMPQ's feature extraction and LP run in this process",
    )
    p.add_argument(
        "--torchrun-args",
        default="",
        help="torchrun's own flags instead of --standalone, quoted (multi-node: '--nnodes 2 --node-rank 0 "
        "--rdzv-backend c10d --rdzv-endpoint HOST:PORT')",
    )
    p.add_argument(
        "--amp", choices=("none", "bf16"), default="none", help="autocast of the steps that support it"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="data-loading workers (per process) of every step that reads images; digits always load in-process",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the common QAT fine-tunes (hawq.quant_train --compile; on an H200 about 3.8x their "
        "eager speed, on a CPU slower)",
    )
    add_threads_arg(p)
    return p


def _step(folder: Path, key: dict[str, Any], force: bool, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``fn`` once per folder and inputs: the result is kept in ``step.json`` with ``key`` (what the step
    depends on) and read back on the next run when the key is unchanged."""
    done = folder / "step.json"
    key = json.loads(json.dumps(key, default=str))
    if done.exists() and not force:
        stored = json.loads(done.read_text(encoding="utf-8"))
        if stored.get("key") == key:
            return stored["result"]
    folder.mkdir(parents=True, exist_ok=True)
    result = fn()
    write_json_atomic(done, {"key": key, "result": result})
    return result


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _float_checkpoint(args: argparse.Namespace) -> Path:
    """``--float-checkpoint``, or where the orchestrator's own float model is written."""
    if args.float_checkpoint is not None:
        if not args.float_checkpoint.is_file():
            raise UsageError(f"--float-checkpoint {args.float_checkpoint}: no such file")
        return args.float_checkpoint
    return args.out / "float" / "checkpoint.pth.tar"


#: the float model's global batch (``reproduce.baseline_digits``' default in one process)
FLOAT_BATCH = 64


def _float_model(args: argparse.Namespace, ctx: Context) -> float | None:
    """The float model's val top-1: read from ``--float-checkpoint``'s ``final.json`` (None without one), or
    trained by ``reproduce.baseline_digits`` (under torchrun with the other training steps, its global batch
    :data:`FLOAT_BATCH` split over the processes)."""
    if args.float_checkpoint is not None:
        final = args.float_checkpoint.parent / "final.json"
        acc = json.loads(final.read_text(encoding="utf-8")).get("val_acc1") if final.is_file() else None
        return None if acc is None else float(acc)
    from reproduce import baseline_digits

    folder = ctx.float_checkpoint.parent
    epochs = 1 if args.quick else args.baseline_epochs
    try:
        batch = per_process_batch(ctx, FLOAT_BATCH)
    except ValueError as exc:
        raise UsageError(f"the float model's {exc}; train it elsewhere and pass --float-checkpoint") from None

    def train() -> dict[str, Any]:
        resume = str(folder) if ctx.float_checkpoint.exists() else ""
        argv = [
            "--arch", args.arch, "--data", args.data, "--image-size", str(args.image_size), "--epochs", str(epochs),
            "--batch-size", str(batch), "--workers", str(loader_workers(ctx)),
            *sync_bn_flags(ctx), *amp_flags(ctx), "--out", str(folder), "--device", args.device,
            "--seed", str(args.seed), "--resume", resume,
        ]  # fmt: skip
        result = run_step(ctx, "reproduce.baseline_digits", argv, baseline_digits.main)
        if result is None:  # ran under torchrun: rank 0 wrote final.json
            result = json.loads((folder / "final.json").read_text(encoding="utf-8"))
        return {"val_acc1": result["val_acc1"], "epochs": epochs}

    key = {
        "epochs": epochs,
        "seed": args.seed,
        "arch": args.arch,
        "data": args.data,
        "image_size": args.image_size,
    }
    return float(_step(folder, key, args.force, train)["val_acc1"])


def _cost_row(ctx: Context, bitconfig: Path) -> dict[str, Any]:
    cfg = read_bitconfig(bitconfig)
    bits = {name: (lb.w, lb.a) for name, lb in cfg.layers.items()}
    first, last = pinned_layers(ctx.layers)
    for name in (first, last):
        if bits.get(name) != (PINNED_BITS, PINNED_BITS):
            raise ValueError(f"{bitconfig}: pinned layer {name} is {bits.get(name)}, not W8A8")
    measured = measure(ctx.layers, bits)
    return {
        "bitconfig": str(bitconfig),
        "bits": bits_string({l.name: bits[l.name] for l in ctx.layers}),
        **measured.as_dict(),
        "within": within(measured, ctx.limits),
    }


def _uniform(ctx: Context, w: int, a: int, out: Path, key: dict[str, Any], force: bool) -> dict[str, Any]:
    folder = out / f"uniform_w{w}a{a}"

    def run() -> dict[str, Any]:
        cfg = uniform_bitconfig(
            ctx.arch,
            w,
            a,
            keep_first_last=PINNED_BITS,
            num_classes=ctx.num_classes,
            input_size=ctx.image_size,
        )
        path = write_bitconfig(cfg, folder / "bit_config.json")
        seed_everything(ctx.recipe.seed)
        started = time.perf_counter()
        acc = finetune_common(ctx, path, folder / "common_qat").acc1
        return {"label": f"uniform W{w}A{a}", **_cost_row(ctx, path), "acc_common": acc,
                "finetune_s": time.perf_counter() - started, "notes": ["first and last layer W8A8"]}  # fmt: skip

    return _step(folder, key, force, run)


def _method(
    ctx: Context, name: str, out: Path, common_qat: bool, key: dict[str, Any], force: bool
) -> dict[str, Any]:
    method = load_method(name)
    folder = out / name

    def search() -> dict[str, Any]:
        seed_everything(ctx.seed)
        served, started = DigitsDataset.served, time.perf_counter()
        outcome = method.search(ctx, folder / "search")
        spread = method.search_on_torchrun and distributed(ctx)
        return {
            "search_s": time.perf_counter() - started,
            # images drawn in torchrun's processes are not counted here
            "search_images": DigitsDataset.served - served if ctx.data == "digits" and not spread else None,
            "search_procs": world_size(ctx) if spread else 1,
            **_cost_row(ctx, outcome.bitconfig),
            "search_notes": outcome.notes,
        }

    def own() -> dict[str, Any]:
        seed_everything(ctx.recipe.seed)
        started = time.perf_counter()
        outcome = method.finetune(ctx, Path(found["bitconfig"]), folder / "finetune")
        return {"acc_own": outcome.acc1, "finetune_s": time.perf_counter() - started, "notes": outcome.notes}

    def common() -> dict[str, Any]:
        seed_everything(ctx.recipe.seed)
        started = time.perf_counter()
        outcome = finetune_common(ctx, Path(found["bitconfig"]), folder / "common_qat")
        return {
            "acc_common": outcome.acc1,
            "finetune_s": time.perf_counter() - started,
            "notes": outcome.notes,
        }

    row: dict[str, Any] = {"label": method.label, "method": name}
    try:
        found = _step(folder / "search", key, force, search)
        row.update(found)
        own_result = _step(
            folder / "finetune", {**key, "recipe": asdict(ctx.recipe), "bits": found["bits"]}, force, own
        )
        row["acc_own"] = own_result["acc_own"]
        row["finetune_s"] = own_result["finetune_s"]
        row["notes"] = [*found["search_notes"], *own_result["notes"]]
        if name == "hawq":  # bits in {4, 8}: both activation rules of the common path are HAWQ-V3's own
            row["acc_common"] = row["acc_own"]
        elif common_qat:
            common_result = _step(
                folder / "common_qat",
                {**key, "recipe": asdict(ctx.recipe), "bits": found["bits"], "common_acts": ctx.common_acts},
                force,
                common,
            )
            row["acc_common"] = common_result["acc_common"]
            row["finetune_s"] += common_result["finetune_s"]
            row["notes"] += common_result.get("notes", [])
    except (Exception, SystemExit) as e:  # one method's failure must not hide the others' results
        (folder / "error.txt").parent.mkdir(parents=True, exist_ok=True)
        (folder / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        row["notes"] = [
            *row.get("notes", []),
            f"FAILED: {type(e).__name__}: {' '.join(str(e).split())[:200]}",
        ]
        row["failed"] = True
    return row


def data_classes(data: str, image_size: int) -> int:
    """The number of classes of ``--data`` (a missing or malformed folder is a one-line error)."""
    if data == "digits":
        return 10
    from common.data import build_datasets

    _, _, classes = build_datasets(data, preset="none", image_size=image_size)
    return classes


def check_arch(arch: str) -> None:
    """``--arch`` must be a registered model."""
    from common.models import available_models

    if arch not in available_models():
        raise UsageError(f"unknown --arch {arch!r}; e.g. {', '.join(ARCHES)} (any name of common.models)")


def plan_methods(args: argparse.Namespace, num_classes: int) -> tuple[list[str], dict[str, str]]:
    """The methods to run and, for those that cannot run ``--arch`` on ``--data``, the reason.

    A method named in ``--methods`` that cannot run is a one-line error; with the default (all methods) it
    becomes an "unsupported" row of the table.
    """
    named = args.methods is not None
    names = [n.strip() for n in (args.methods or ",".join(NAMES)).split(",") if n.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise UsageError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    reasons = {}
    for name in names:
        reason = load_method(name).unsupported(args.arch, args.data, args.image_size, num_classes)
        if reason is not None:
            reasons[name] = reason
    if named and reasons:
        name, reason = next(iter(reasons.items()))
        raise UsageError(f"--methods {name} cannot run --arch {args.arch} on {args.data}: {reason}")
    return names, reasons


def check_args(args: argparse.Namespace, num_classes: int) -> None:
    """Bad flags and a --float-checkpoint of another model as one-line errors before any step runs."""
    if args.epochs is None:
        if args.effort == "custom":
            raise UsageError("--effort custom needs --epochs")
        args.epochs = EPOCHS[args.effort]
    check_range("--wbits", args.wbits, 2, 32)
    check_range("--abits", args.abits, 2, 32)
    for flag in ("epochs", "batch_size", "baseline_epochs"):
        check_at_least("--" + flag.replace("_", "-"), getattr(args, flag), 1)
    check_at_least("--seeds", args.seeds, 1)
    check_at_least("--nproc-per-node", args.nproc_per_node, 1)
    check_at_least("--workers", args.workers, 0)
    check_positive("--lr", args.lr)
    check_at_least("--wd", args.wd, 0)
    check_at_least("--image-size", args.image_size, 8)
    check_output_dir("--out", args.out)
    if args.dali:
        from common.data.dali import check_dali_data, require_dali

        check_dali_data(args.data)
        require_dali()
    if args.results_dir is not None:
        check_output_dir("--results-dir", args.results_dir)
    if args.float_checkpoint is not None:
        from common.models import build_model

        source = f"--float-checkpoint {args.float_checkpoint}"
        state = state_dict_from(
            load_checkpoint(args.float_checkpoint), args.float_checkpoint, "--float-checkpoint"
        )
        check_state_dict_fits(build_model(args.arch, num_classes=num_classes), state, source)


def _run_seed(
    ctx: Context,
    args: argparse.Namespace,
    out: Path,
    names: list[str],
    unsupported: dict[str, str],
    no_common: str | None,
    checkpoint: Path,
) -> list[dict[str, Any]]:
    """The uniform rows and every method's row for one seed (``ctx.seed``), steps kept under ``out``."""
    total = 2 + len(names)
    print(f"[compare 2/{total}] uniform W8A8 and W4A4 on the common QAT path", flush=True)
    key = {
        "float": _fingerprint(checkpoint), "budget": [ctx.budget.wbits, ctx.budget.abits], "seed": ctx.seed,
        "quick": args.quick, "effort": args.effort, "amp": args.amp, "device": args.device, "arch": args.arch, "data": args.data,
        "image_size": args.image_size,
        **({"compile": True} if args.compile else {}),  # absent when off: earlier runs' steps still resume
        **({"dali": True} if args.dali else {}),
    }  # fmt: skip
    train_key = {**key, "recipe": asdict(ctx.recipe), "common_acts": args.common_acts}
    if no_common is None:
        rows = [_uniform(ctx, w, w, out, train_key, args.force) for w in (8, 4)]
    else:
        rows = [{"label": f"uniform W{w}A{w}", "unsupported": True, "notes": [f"unsupported: {no_common}"]}
                for w in (8, 4)]  # fmt: skip
        print(f"  uniform rows and common QAT column: unsupported: {no_common}", flush=True)
    for i, name in enumerate(names, start=3):
        if name in unsupported:
            method = load_method(name)
            print(f"[compare {i}/{total}] {name}: unsupported: {unsupported[name]}", flush=True)
            rows.append({"label": method.label, "method": name, "unsupported": True,
                         "notes": [f"unsupported: {unsupported[name]}"]})  # fmt: skip
            continue
        print(f"[compare {i}/{total}] {name}: search, own fine-tune, common QAT", flush=True)
        row = _method(ctx, name, out, not args.no_common_qat and no_common is None, key, args.force)
        rows.append(row)
        status = (
            "FAILED (see error.txt)"
            if row.get("failed")
            else f"top-1 own {row.get('acc_own', float('nan')):.2f}%"
        )
        print(f"  {name}: {status}", flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    check_arch(args.arch)
    num_classes = data_classes(args.data, args.image_size)
    names, unsupported = plan_methods(args, num_classes)
    check_args(args, num_classes)
    set_threads(args.threads)
    set_resume_hint(f"the same command (--out {args.out}: finished steps are read back, not rerun)")
    args.out.mkdir(parents=True, exist_ok=True)
    total = 2 + len(names)
    print(f"[compare 1/{total}] float {args.arch} on {args.data}", flush=True)
    checkpoint = _float_checkpoint(args)
    layers = bench_layers(args.arch, args.image_size, num_classes)
    budget = Budget(args.wbits, args.abits)
    ctx = Context(
        args.arch, args.data, args.image_size, num_classes, checkpoint, budget, layers, budget.limits(layers),
        Recipe(args.epochs, args.batch_size, args.lr, args.wd, args.seed), args.seed, args.device, args.quick,
        args.common_acts, "smoke" if args.quick else args.effort, args.nproc_per_node, args.workers, args.amp,
        tuple(shlex.split(args.torchrun_args)), args.compile, args.dali,
    )  # fmt: skip
    float_acc = _float_model(args, ctx)
    limits = ctx.limits
    print(
        f"budget: {budget.describe()}: avg weight bits <= {limits.avg_wbits:.3f}, "
        f"size <= {limits.size_kb:.2f} kB, BOPs <= {limits.gbops:.4f} G",
        flush=True,
    )
    no_common = common_qat_unsupported(args.arch)
    seeds = list(range(args.seed, args.seed + args.seeds))
    per_seed = []
    for seed in seeds:
        seed_ctx = replace(ctx, seed=seed, recipe=replace(ctx.recipe, seed=seed))
        out = args.out if args.seeds == 1 else args.out / f"seed{seed}"
        if args.seeds > 1:
            print(f"== seed {seed} ({seeds.index(seed) + 1} of {len(seeds)}) under {out}", flush=True)
        per_seed.append(_run_seed(seed_ctx, args, out, names, unsupported, no_common, checkpoint))
    rows = per_seed[0] if args.seeds == 1 else merge_seeds(per_seed, seeds)
    if args.seeds == 1:
        mark_ties(rows)
    header = [
        f"# Cross-method benchmark: {args.arch} on {args.data} at {args.image_size} px ({num_classes} classes)",
        "",
        "Generated by `python -m reproduce.compare` (part of `make reproduce`); do not edit by hand.",
        "",
        f"* float top-1: {'-' if float_acc is None else f'{float_acc:.2f} %'} ({checkpoint})",
        f"* budget: {budget.describe()}: average weight bits <= {limits.avg_wbits:.3f}, "
        f"size <= {limits.size_kb:.2f} kB, BOPs <= {limits.gbops:.4f} G",
        f"* fine-tuning recipe (own code and common QAT path): {ctx.recipe.epochs} epochs, batch "
        f"{ctx.recipe.batch_size}, lr {ctx.recipe.lr:g}, weight decay {ctx.recipe.weight_decay:g}, seed {ctx.recipe.seed}"
        + (" (--quick: 1 epoch on 5 % of the data)" if args.quick else ""),
        f"* search effort: {ctx.effort} (`--effort`; smoke = `--quick`); each adapter's docstring lists its settings",
        "* search images: images drawn from the data during the search; search s: its wall time on this machine",
        "* costs: every conv/linear layer, float layers at 32 bits; size = weights only (reproduce/compare/budget.py)",
    ]  # fmt: skip
    result = {
        "arch": args.arch, "data": args.data, "image_size": args.image_size, "num_classes": num_classes,
        "float_acc1": float_acc, "float_checkpoint": str(checkpoint),
        "budget": {"wbits": budget.wbits, "abits": budget.abits, **limits.as_dict()},
        "recipe": asdict(ctx.recipe), "quick": args.quick, "effort": ctx.effort, "rows": rows,
    }  # fmt: skip
    for row in rows:
        row["effort"] = ctx.effort
    write_json_atomic(args.out / "results.json", result)
    atomic_write_text(args.out / "compare.md", to_markdown(rows, header))
    atomic_write_text(args.out / "compare.csv", to_csv(rows))
    if args.results_dir is not None:
        from reproduce.compare.results import write_results

        path = write_results(args.results_dir, result, args.device, args.nproc_per_node)
        print(f"results: {path}", flush=True)
    plotted = [r for r in rows if "size_kB" in r]
    pareto_plot(
        plotted, args.out / "pareto.png", f"{args.arch} on {args.data}: top-1 against size", float_acc
    )
    bit_chart(plotted, [l.name for l in layers], args.out / "bits.png", "bits per layer (w/a; colour: w)")
    print(
        f"comparison table: {args.out / 'compare.md'}\nPareto plot: {args.out / 'pareto.png'}\n"
        f"bits per layer: {args.out / 'bits.png'}",
        flush=True,
    )
    return result


if __name__ == "__main__":
    run_main(main)
