"""Results that last: one CSV per benchmark under ``results/compare/`` and the Markdown generated from them.

``python -m reproduce.compare ... --results-dir results/compare`` writes ``<arch>_<data>_<effort>.csv`` (one row per
table row: bits, size, BOPs, search seconds and images, GPU-seconds, top-1 mean ± std, seeds, commit, machine),
the way timm keeps ``results/`` next to its generator. ``python -m reproduce.compare.results [DIR]`` regenerates
``DIR/README.md`` from every CSV there; the Markdown is never edited by hand.

GPU-seconds = search s x (processes if the search ran under torchrun, else 1) + fine-tune s x processes when the run
used CUDA, else 0 (a CPU run uses no GPU).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.runtime import atomic_write_text, run_main
from reproduce.compare.method import data_kind

#: CSV columns, in order
FIELDS = (
    "method", "arch", "data", "image_size", "effort", "seeds", "bits", "avg_wbits", "size_kB", "GBOPs",
    "within_budget", "search_s", "search_images", "gpu_s", "top1_own", "top1_own_std", "top1_common",
    "top1_common_std", "ties", "status", "commit", "machine",
)  # fmt: skip


def data_name(data: str) -> str:
    """The short name of a ``--data`` argument in file names: ``digits``, ``cifar10`` or the folder's name."""
    kind = data_kind(data)
    return kind if kind != "folder" else Path(data.rstrip("/")).name or data


def results_file(folder: Path, arch: str, data: str, effort: str) -> Path:
    return Path(folder) / f"{arch}_{data_name(data)}_{effort}.csv"


def git_commit(root: Path | None = None) -> str:
    """The checked-out commit (short) with ``+dirty`` when tracked files differ, or ``unknown`` outside git."""
    where = root or Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=where, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def machine(device: str, nproc: int) -> str:
    """``<n> x <GPU name>`` on CUDA, else ``<CPU> (<cores> cores)``."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{nproc} x {torch.cuda.get_device_name(0)}"
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def _num(value: Any, digits: int) -> str:
    return "" if value is None else f"{float(value):.{digits}f}"


def csv_rows(result: dict[str, Any], commit: str, machine_name: str, gpus: int) -> list[dict[str, str]]:
    """The CSV rows of one benchmark result (``reproduce.compare.run.main``'s return value)."""
    rows = []
    for r in result["rows"]:
        # the searches run on one device unless they ran under torchrun (search_procs > 1)
        search_gpus = gpus if r.get("search_procs", 1) > 1 else min(gpus, 1)
        gpu_s = (r.get("search_s") or 0.0) * search_gpus + (r.get("finetune_s") or 0.0) * gpus
        status = "unsupported" if r.get("unsupported") else "failed" if r.get("failed") else "ok"
        within = r.get("within")
        rows.append({
            "method": r["label"], "arch": result["arch"], "data": data_name(result["data"]),
            "image_size": str(result["image_size"]), "effort": str(r.get("effort", result.get("effort"))),
            "seeds": str(r.get("seeds", 1)), "bits": r.get("bits", ""),
            "avg_wbits": _num(r.get("avg_wbits"), 3), "size_kB": _num(r.get("size_kB"), 2),
            "GBOPs": _num(r.get("GBOPs"), 5), "within_budget": "" if within is None else str(all(within.values())),
            "search_s": _num(r.get("search_s"), 1), "search_images": "" if r.get("search_images") is None
            else str(int(r["search_images"])), "gpu_s": _num(gpu_s, 1),
            "top1_own": _num(r.get("acc_own"), 2), "top1_own_std": _num(r.get("acc_own_std"), 2),
            "top1_common": _num(r.get("acc_common"), 2), "top1_common_std": _num(r.get("acc_common_std"), 2),
            "ties": "; ".join(r.get("ties") or []), "status": status if status == "ok" else
            f"{status}: {'; '.join(r.get('notes', []))[:200]}", "commit": commit, "machine": machine_name,
        })  # fmt: skip
    return rows


def write_results(folder: Path, result: dict[str, Any], device: str, nproc: int) -> Path:
    """Write ``<arch>_<data>_<effort>.csv`` for ``result`` under ``folder`` and regenerate ``README.md``."""
    gpus = nproc if device.startswith("cuda") else 0
    rows = csv_rows(result, git_commit(), machine(device, nproc), gpus)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = results_file(folder, result["arch"], result["data"], result["effort"])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, buf.getvalue())
    generate(folder)
    return path


def _pm(mean: str, std: str) -> str:
    return "-" if not mean else f"{mean} ± {std}" if std else mean


def to_markdown(files: Sequence[Path]) -> str:
    """One section per CSV: method, bits, size, BOPs, search cost, top-1 mean ± std, seeds, provenance."""
    lines = [
        "# Cross-method benchmark results",
        "",
        "Generated by `python -m reproduce.compare.results` from the CSV files in this folder; do not edit.",
        "Each CSV is written by `python -m reproduce.compare --results-dir results/compare` "
        "(see reproduce/README.md).",
    ]
    head = ("method", "avg w bits", "size kB", "GBOPs", "within", "search s", "search images", "GPU s",
            "top-1 own %", "top-1 common QAT %", "seeds", "ties", "status")  # fmt: skip
    for path in files:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if not rows:
            continue
        first = rows[0]
        lines += [
            "",
            f"## {path.stem}",
            "",
            f"{first['arch']} on {first['data']} at {first['image_size']} px, effort {first['effort']}, "
            f"commit {first['commit']}, machine {first['machine']}",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        for r in rows:
            cells = (
                r["method"], r["avg_wbits"] or "-", r["size_kB"] or "-", r["GBOPs"] or "-",
                r["within_budget"] or "-", r["search_s"] or "-", r["search_images"] or "-", r["gpu_s"] or "-",
                _pm(r["top1_own"], r["top1_own_std"]), _pm(r["top1_common"], r["top1_common_std"]), r["seeds"],
                r["ties"] or "-", r["status"],
            )  # fmt: skip
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def generate(folder: Path) -> Path:
    """Regenerate ``folder/README.md`` from every ``*.csv`` in ``folder`` (sorted by name)."""
    folder = Path(folder)
    return atomic_write_text(folder / "README.md", to_markdown(sorted(folder.glob("*.csv"))))


def main(argv: Sequence[str] | None = None) -> Path:
    p = argparse.ArgumentParser(
        prog="python -m reproduce.compare.results", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("folder", nargs="?", type=Path, default=Path("results/compare"))
    args = p.parse_args(argv)
    if not args.folder.is_dir():
        from common.runtime.errors import UsageError

        raise UsageError(f"{args.folder}: no such folder")
    path = generate(args.folder)
    print(path)
    return path


if __name__ == "__main__":
    run_main(main)
