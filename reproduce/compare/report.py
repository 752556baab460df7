"""The benchmark's outputs: a Markdown and a CSV table, and the Pareto plot (top-1 against model size) as PNG."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.runtime import save_figure

#: table columns: (key in a result row, header)
COLUMNS = (
    ("label", "run"),
    ("bits", "bits (w/a per layer)"),
    ("avg_wbits", "avg w bits"),
    ("size_kB", "size kB"),
    ("GBOPs", "GBOPs"),
    ("within", "within budget"),
    ("search_s", "search s"),
    ("search_images", "search images"),
    ("effort", "effort"),
    ("acc_own", "top-1 own %"),
    ("acc_common", "top-1 common QAT %"),
    ("finetune_s", "fine-tune s (own + common)"),
    ("seeds", "seeds"),
    ("ties", "ties (|Δ top-1| < std)"),
    ("notes", "notes"),
)


def _fmt(key: str, value: Any) -> str:
    if value is None or value == "":
        return "-"
    if key == "within":
        return ", ".join(f"{k} {'yes' if ok else 'NO'}" for k, ok in value.items())
    if key in ("notes", "ties"):
        return "; ".join(value) if value else "-"
    if isinstance(value, float):
        if key in ("search_s", "finetune_s"):
            return f"{value:.1f}"
        return f"{value:.4g}" if key == "GBOPs" else f"{value:.2f}"
    return str(value)


def cell(row: dict[str, Any], key: str) -> str:
    """One table cell: ``mean ± std`` for a top-1 with a ``<key>_std``, ``mean (min-max)`` for a cost with a range."""
    text = _fmt(key, row.get(key))
    if row.get(f"{key}_std") is not None and row.get(key) is not None:
        return f"{text} ± {row[key + '_std']:.2f}"
    if row.get(f"{key}_range") is not None and row.get(key) is not None:
        lo, hi = row[f"{key}_range"]
        if lo != hi:
            return f"{text} ({_fmt(key, float(lo))}-{_fmt(key, float(hi))})"
    return text


def bits_string(layers: dict[str, tuple[int, int]]) -> str:
    """Compact per-layer bits in forward order, e.g. ``8/8 4/4 ...``."""
    return " ".join(f"{w}/{a}" for w, a in layers.values())


def to_markdown(rows: Sequence[dict[str, Any]], header: Sequence[str]) -> str:
    lines = [*header, "", "| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [cell(r, k).replace("|", "\\|") for k, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([k for k, _ in COLUMNS])
    for r in rows:
        writer.writerow(["" if r.get(k) is None else cell(r, k) for k, _ in COLUMNS])
    return buf.getvalue()


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats: smaller or equal size with higher or equal top-1 (one strictly)."""
    front = []
    for size, acc in points:
        dominated = any(
            s <= size and a >= acc and (s < size or a > acc) for s, a in points if (s, a) != (size, acc)
        )
        if not dominated:
            front.append((size, acc))
    return sorted(front)


def pareto_plot(
    rows: Sequence[dict[str, Any]], path: Path, title: str, float_acc: float | None = None
) -> Path:
    """Top-1 against model size: each method's own fine-tune (filled) and the common QAT path (hollow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    common_points = []
    for i, r in enumerate(rows):
        color = colors[i % len(colors)]
        if r.get("acc_own") is not None:
            ax.errorbar(
                r["size_kB"], r["acc_own"], yerr=r.get("acc_own_std"), color=color, marker="o", ms=7, capsize=3,
                ls="none", label=f"{r['label']} (own)",
            )  # fmt: skip
        if r.get("acc_common") is not None:
            ax.errorbar(
                r["size_kB"], r["acc_common"], yerr=r.get("acc_common_std"), color=color, marker="s", ms=8,
                mfc="none", capsize=3, ls="none", label=f"{r['label']} (common QAT)",
            )  # fmt: skip
            common_points.append((r["size_kB"], r["acc_common"]))
    front = pareto_front(common_points)
    if len(front) > 1:
        ax.plot(*zip(*front, strict=True), color="grey", lw=1, ls="--", label="Pareto front (common QAT)")
    if float_acc is not None:
        ax.axhline(float_acc, color="black", lw=0.8, ls=":", label=f"float {float_acc:.2f} %")
    ax.set_xlabel("model size (kB, weights)")
    ax.set_ylabel("top-1 on the validation split (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return save_figure(fig, path)


def bit_chart(rows: Sequence[dict[str, Any]], layer_names: Sequence[str], path: Path, title: str) -> Path:
    """Per-layer bits of every run as a grid: colour = weight bits, text = ``w/a``, one row per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    runs = [r for r in rows if r.get("bits")]
    grid = np.array([[int(wa.split("/")[0]) for wa in r["bits"].split()] for r in runs], dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(layer_names), 1.2 + 0.45 * len(runs)))
    image = ax.imshow(grid, cmap="viridis", vmin=1, vmax=8, aspect="auto")
    for i, r in enumerate(runs):
        for j, wa in enumerate(r["bits"].split()):
            ax.text(
                j, i, wa, ha="center", va="center", fontsize=7, color="white" if grid[i, j] < 5 else "black"
            )
    ax.set_xticks(range(len(layer_names)), layer_names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(runs)), [r["label"] for r in runs], fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="weight bits", fraction=0.03)
    fig.tight_layout()
    return save_figure(fig, path)
