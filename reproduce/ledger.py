"""Write every published table (one Markdown file each) and the ledger (CSV and Markdown) of all of them."""

from __future__ import annotations

from pathlib import Path

from common.runtime import atomic_write_text
from reproduce.tables import all_tables
from reproduce.tables.model import (
    Table,
    ledger_csv,
    ledger_markdown,
    ledger_rows,
    status_counts,
    table_markdown,
)


def write_tables(out: Path, cost_rows: list[dict]) -> tuple[list[Table], list[dict]]:
    """``out/tables/<key>.md`` per table, ``out/ledger.csv`` and ``out/ledger.md``; returns tables and rows."""
    tables, _ = all_tables(cost_rows)
    for t in tables:
        atomic_write_text(out / "tables" / f"{t.key}.md", table_markdown(t))
    rows = ledger_rows(tables)
    atomic_write_text(out / "ledger.csv", ledger_csv(rows))
    atomic_write_text(out / "ledger.md", ledger_markdown(tables, rows, "tables"))
    return tables, rows


def print_summary(tables: list[Table], rows: list[dict]) -> None:
    width = max(len(t.key) for t in tables)
    for t in tables:
        counts = status_counts(c.status for _, c in t.cells())
        print(
            f"{t.key:<{width}}  {sum(counts.values()):>3} figures  "
            + ", ".join(f"{n} {s}" for s, n in counts.items())
        )
    total = status_counts(r["status"] for r in rows)
    print(
        f"ledger: {len(rows)} published figures in {len(tables)} tables: "
        + ", ".join(f"{n} {s}" for s, n in total.items())
    )
