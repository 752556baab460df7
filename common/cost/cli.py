"""``python -m common.cost``: per-layer cost table and totals of a model under a paper's convention.

Examples::

    python -m common.cost resnet18 --bits 4/4 --convention hawq
    python -m common.cost resnet50 --bit-config haq_r50.json --convention haq_size --json
    python -m common.cost --list
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from common.cost.convention import CostReport, available_conventions, get_convention
from common.cost.evaluate import evaluate_bitconfig, evaluate_cost


def parse_bits(text: str) -> tuple[int, int]:
    """``"W/A"`` -> (W, A); ``"W"`` alone means W/W."""
    parts = text.split("/")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bits expects W/A such as 4/4, got {text!r}") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"--bits expects W/A such as 4/4, got {text!r}")
    return values[0], values[1]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m common.cost", description=__doc__.split("\n\n")[0])
    p.add_argument("arch", nargs="?", help="registered model name (python -m common.cost --list)")
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--bits", type=parse_bits, help="uniform W/A bits, e.g. 4/4 (the convention pins its fixed layers)"
    )
    src.add_argument("--bit-config", metavar="FILE", help="portable bit-config JSON file")
    p.add_argument("--convention", default="hawq", help="cost convention (default: hawq)")
    p.add_argument(
        "--input-size", type=int, default=None, help="input resolution (default: the arch's published one)"
    )
    p.add_argument(
        "--num-classes", type=int, default=None, help="classifier size (default: the arch's default)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON object instead of the table")
    p.add_argument("--list", action="store_true", help="list conventions and architectures, then exit")
    return p


def format_report(report: CostReport) -> str:
    """A plain-text table of the per-layer rows followed by the totals."""
    if not report.rows:
        return "(no layers)"
    columns = list(report.rows[0])
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in report.rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = [f"{report.arch} @ {report.input_size}px, convention {report.convention}", ""]
    lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(columns)))
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(v.rjust(widths[i]) if i else v.ljust(widths[i]) for i, v in enumerate(row)) for row in cells
    ]
    lines.append("")
    for key, value in report.totals.items():
        unit = report.units.get(key, "")
        lines.append(f"{key:>20} = {_fmt(value)}" + (f"   [{unit}]" if unit else ""))
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    from common.runtime import UsageError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        from common.models import available_models

        print("conventions:")
        for name in available_conventions():
            print(f"  {name:<14} {get_convention(name).description}")
        print("architectures:", ", ".join(available_models()))
        return 0
    if args.bit_config:
        from common.bitconfig import read_bitconfig

        cfg = read_bitconfig(args.bit_config)
        if args.arch and args.arch != cfg.arch:
            raise UsageError(f"{args.bit_config} is for {cfg.arch}, not {args.arch}")
        report = evaluate_bitconfig(cfg, args.convention)
    else:
        if not args.arch:
            raise UsageError("give an architecture (python -m common.cost --list shows them)")
        if args.bits is None:
            raise UsageError("give --bits W/A or --bit-config FILE")
        report = evaluate_cost(
            args.arch,
            args.convention,
            bits=args.bits,
            input_size=args.input_size,
            num_classes=args.num_classes,
        )
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(format_report(report))
    return 0
