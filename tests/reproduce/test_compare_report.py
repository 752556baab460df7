"""Tables and the Pareto plot of the benchmark (reproduce/compare/report.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from reproduce.compare.report import COLUMNS, bit_chart, pareto_front, pareto_plot, to_csv, to_markdown

ROWS = [
    {"label": "uniform W8A8", "size_kB": 300.0, "GBOPs": 1.0, "acc_common": 97.0, "avg_wbits": 8.0},
    {"label": "A", "size_kB": 150.0, "GBOPs": 0.3, "acc_own": 96.0, "acc_common": 96.5, "avg_wbits": 4.0,
     "within": {"avg_wbits": True, "GBOPs": False}, "notes": ["x | y", "z"]},
    {"label": "B", "size_kB": 160.0, "GBOPs": 0.3, "acc_own": 95.0, "acc_common": 95.0, "avg_wbits": 4.2},
]  # fmt: skip


def test_pareto_front_drops_dominated_points() -> None:
    pts = [(r["size_kB"], r["acc_common"]) for r in ROWS]
    assert pareto_front(pts) == [(150.0, 96.5), (300.0, 97.0)]


def test_markdown_and_csv_have_one_row_per_run() -> None:
    md = to_markdown(ROWS, ["# t"])
    body = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(body) == 1 + len(ROWS)
    assert "avg_wbits yes, GBOPs NO" in md and "x \\| y; z" in md
    table = list(csv.DictReader(io.StringIO(to_csv(ROWS))))
    assert [r["label"] for r in table] == ["uniform W8A8", "A", "B"]
    assert list(table[0]) == [k for k, _ in COLUMNS]
    assert table[1]["acc_common"] == "96.50"


def test_pareto_plot_writes_a_png(tmp_path: Path) -> None:
    path = pareto_plot(ROWS, tmp_path / "p.png", "t", float_acc=97.5)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*"))


def test_bit_chart_writes_a_png_of_the_runs_with_bits(tmp_path: Path) -> None:
    rows = [{"label": "a", "bits": "8/8 4/4 8/8"}, {"label": "b", "bits": "8/8 2/6 8/8"}, {"label": "failed"}]
    path = bit_chart(rows, ["conv1", "x", "fc"], tmp_path / "bits.png", "t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
