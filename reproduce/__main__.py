"""``python -m reproduce`` (``make reproduce``): regenerate every published table this checkout covers.

Today that is the cost figures of all five papers (published, ours, difference, status) and the
float baseline on the embedded ``digits`` data; each method issue adds its tables here.
Outputs go to ``--out`` (default ``runs/reproduce``): ``costs.md``, ``costs.csv``, the bit-config
files the listed commands read, and the baseline's run folder.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from common.runtime import atomic_write_text, run_main
from reproduce.cost_table import all_figures
from reproduce.figures import MISMATCH, to_csv, to_markdown


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
    p.add_argument("--only", choices=("costs", "baseline"), help="run one part only")
    p.add_argument("--out", type=Path, default=Path("runs/reproduce"))
    p.add_argument("--baseline-epochs", type=int, default=15)
    args = p.parse_args(argv)
    status = 0
    if args.only in (None, "costs"):
        rows = run_costs(args.out)
        status = int(any(r["status"] == MISMATCH for r in rows))
    if args.only in (None, "baseline"):
        from reproduce import baseline_digits

        result = baseline_digits.main(
            ["--epochs", str(args.baseline_epochs), "--out", str(args.out / "baseline_digits")]
        )
        print(
            f"float baseline {result['arch']} on digits: top-1 {result['val_acc1']:.2f}% after {result['epochs']} epochs"
        )
    return status


if __name__ == "__main__":
    sys.exit(run_main(main))
