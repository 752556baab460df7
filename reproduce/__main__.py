"""``python -m reproduce`` (``make reproduce``): regenerate every published table of the five papers.

Every published table or figure (``reproduce/tables/``) with, per printed number, the published figure, ours,
the difference, a status and the command that produces it: costs are recomputed from the shipped bit
configurations, accuracies say what data they need. Then the float baseline on the embedded ``digits`` data and,
on it, the cross-method benchmark (:mod:`reproduce.compare`).
Outputs go to ``--out`` (default ``runs/reproduce``): ``ledger.md`` and ``ledger.csv`` (every row of every
table), ``tables/<table>.md``, ``costs.md`` and ``costs.csv`` (every cost figure), the bit-config files the
cost commands read (``configs/``), the baseline's run folder, and ``compare/`` (``compare.md``, ``compare.csv``,
``pareto.png``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from common.runtime import atomic_write_text, check_at_least, check_output_dir, run_main
from reproduce import accuracy_runs
from reproduce.cost_table import all_figures
from reproduce.figures import MISMATCH, to_csv, to_markdown
from reproduce.ledger import print_summary, write_tables
from reproduce.tables.model import FAILED


def run_costs(out: Path) -> list[dict]:
    rows = [fig.evaluate() for fig in all_figures(out / "configs")]
    atomic_write_text(out / "costs.md", to_markdown(rows))
    atomic_write_text(out / "costs.csv", to_csv(rows))
    width = max(len(f"{r['paper']} {r['item']} {r['metric']}") for r in rows)
    print(f"{'figure':<{width}}  {'published':>10}  {'ours':>12}  status")
    for r in rows:
        label = f"{r['paper']} {r['item']} {r['metric']}"
        print(f"{label:<{width}}  {r['published']:>10g}  {r['ours']:>12.6g}  {r['status']}")
    counts = {s: sum(r["status"] == s for r in rows) for s in dict.fromkeys(r["status"] for r in rows)}
    print("cost figures:", ", ".join(f"{n} {s}" for s, n in counts.items()), f"-> {out / 'costs.md'}")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reproduce", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--only",
        choices=("costs", "baseline", "compare"),
        help="costs: the cost figures, every published table and the ledger (no training); baseline: the float "
        "model on digits; compare: the cross-method benchmark (on the baseline's checkpoint when there is one)",
    )
    p.add_argument("--out", type=Path, default=Path("runs/reproduce"))
    p.add_argument("--baseline-epochs", type=int, default=15)
    p.add_argument(
        "--compare-args", default="", help="extra arguments of python -m reproduce.compare, quoted"
    )
    accuracy_runs.add_arguments(p)
    args = p.parse_args(argv)
    accuracy_runs.check_args(args)
    check_output_dir("--out", args.out)
    check_at_least("--baseline-epochs", args.baseline_epochs, 1)
    if args.list_checkpoints:
        print(accuracy_runs.checkpoint_listing())
        return 0
    if accuracy_runs.requested(args) and args.only is None:
        args.only = "costs"  # the accuracy modes fill the published tables; the digits steps are separate
    status = 0
    written = []
    if args.only in (None, "costs"):
        print("[1/3] cost figures and published tables", flush=True)
        rows = run_costs(args.out)
        tables, ledger = write_tables(args.out, rows)
        if accuracy_runs.requested(args):
            accuracy_runs.run_from_args(args, tables, args.out / "accuracy")
            if not args.dry_run:
                ledger = accuracy_runs.write_ledger(args.out, tables)
                written.append(("accuracy runs (one log per row)", args.out / "accuracy"))
        print_summary(tables, ledger)
        status = int(any(r["status"] in (MISMATCH, FAILED) for r in [*rows, *ledger]))
        written += [
            ("ledger (every published figure)", args.out / "ledger.md"),
            ("ledger as CSV", args.out / "ledger.csv"),
            (f"{len(tables)} tables, one Markdown file each", args.out / "tables"),
            ("cost figures", args.out / "costs.md"),
            ("bit configurations of the cost commands", args.out / "configs"),
        ]
    if args.only in (None, "baseline"):
        print("[2/3] float baseline on digits", flush=True)
        from reproduce import baseline_digits

        result = baseline_digits.main(
            ["--epochs", str(args.baseline_epochs), "--out", str(args.out / "baseline_digits")]
        )
        print(
            f"float baseline {result['arch']} on digits: top-1 {result['val_acc1']:.2f}% after {result['epochs']} epochs"
        )
        written.append(("float baseline run", args.out / "baseline_digits"))
    if args.only in (None, "compare"):
        print("[3/3] cross-method benchmark on digits", flush=True)
        from reproduce.compare import run as compare

        argv = ["--out", str(args.out / "compare"), *shlex.split(args.compare_args)]
        baseline = args.out / "baseline_digits" / "checkpoint.pth.tar"
        if baseline.is_file() and "--float-checkpoint" not in argv:
            argv += ["--float-checkpoint", str(baseline)]
        result = compare.main(argv)
        status = status or int(any(r.get("failed") for r in result["rows"]))
        written += [
            ("cross-method benchmark table", args.out / "compare" / "compare.md"),
            ("Pareto plot (top-1 against size)", args.out / "compare" / "pareto.png"),
            ("bits per layer of every run", args.out / "compare" / "bits.png"),
        ]
    print("\nwritten:")
    for what, path in written:
        print(f"  {what:<40} {path}")
    return status


if __name__ == "__main__":
    sys.exit(run_main(main))
