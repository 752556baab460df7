"""Published tables as data: a table has rows, a row has one cell per printed number.

Every cell carries the published number, ours where this checkout computes it, the difference, a status
and the command that produces it. Statuses:

* ``exact``: ours, rounded as the paper prints it, equals the published number;
* ``within rounding``: equal only under the paper's own truncation (OMPQ prints BOPs cut to an integer);
* ``deviates``: not equal; the note gives the cause the spec documents (and the bound we hold it to);
* ``needs data``: an accuracy or a search output; the note says what it needs (ImageNet, CIFAR-10, a
  released checkpoint, pretrained weights, hardware) and the command is the one that produces it;
* ``reference only``: a number the paper quotes from another work (PACT, BRECQ, DNAS, ...) or a definition;
  nothing in this repository produces it;
* ``MISMATCH``: a cost that should match and does not (a regression);
* ``failed``: an accuracy run of ``--checkpoints``/``--train`` (:mod:`reproduce.accuracy_runs`) that exited with
  an error or wrote no result; the note gives the log file.

With ``--checkpoints``/``--train`` an accuracy cell that was measured becomes ``exact`` (the measured value,
rounded half up to the paper's printed digits, equals the published one) or ``deviates`` with the note
``measured by <eval|train>; <difference>``. A row's recipes are in ``Row.accuracy``
(:mod:`reproduce.accuracy_recipes`).

Cost cells are never computed here: they reuse the rows of :mod:`reproduce.cost_table`, so a cost status in
a table is the status of the same figure in ``costs.md``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reproduce.figures import DEVIATION, EXACT, MISMATCH, round_half_up

ROUNDING = "within rounding"
DEVIATES = "deviates"
NEEDS_DATA = "needs data"
REFERENCE = "reference only"
FAILED = "failed"
STATUSES = (EXACT, ROUNDING, DEVIATES, NEEDS_DATA, REFERENCE, MISMATCH, FAILED)

if TYPE_CHECKING:
    from reproduce.accuracy_recipes import RowAccuracy

IMAGENET = "ImageNet (train/ and val/)"
IMAGENET_VAL = "ImageNet val/"


@dataclass
class Cell:
    """One printed number of a published table."""

    column: str
    published: float
    status: str
    ours: float | None = None
    note: str = ""
    #: the command producing this number; empty means the row's command
    command: str = ""

    @property
    def difference(self) -> float | None:
        return None if self.ours is None else self.ours - self.published


@dataclass
class Row:
    label: str
    cells: list[Cell]
    #: the command that produces the row's accuracy (or, for a cost-only row, its cost)
    command: str = ""
    #: how the row's accuracies are measured (eval/train recipes), or why they are not
    accuracy: RowAccuracy | None = None


@dataclass
class Table:
    key: str
    paper: str
    title: str
    source: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def cells(self) -> Iterable[tuple[Row, Cell]]:
        for row in self.rows:
            for cell in row.cells:
                yield row, cell


class CostLookup:
    """The evaluated rows of :func:`reproduce.cost_table.all_figures`, looked up by (paper, item, metric)."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = {(r["paper"], r["item"], r["metric"]): r for r in rows}
        self.used: set[tuple[str, str, str]] = set()

    def row(self, paper: str, item: str, metric: str) -> dict:
        key = (paper, item, metric)
        if key not in self.rows:
            raise KeyError(f"no cost figure {key} in reproduce.cost_table")
        self.used.add(key)
        return self.rows[key]

    def cell(self, column: str, paper: str, item: str, metric: str) -> Cell:
        """The cost figure as a table cell, with its cost_table status translated."""
        r = self.row(paper, item, metric)
        if r["status"] == EXACT:
            status, note = EXACT, ""
            if r["rounding"] == "floor" and round_half_up(r["ours"], r["digits"]) != r["published"]:
                status, note = (
                    ROUNDING,
                    f"the paper truncates ({r['ours']:.2f} printed as {r['published']:g})",
                )
        elif r["status"] == DEVIATION:
            status, note = DEVIATES, r["reason"]
        else:
            status, note = MISMATCH, r["reason"]
        return Cell(column, r["published"], status, r["ours"], note, r["command"])

    def budget_cell(self, column: str, published: float, digits: int, paper: str, item: str, metric: str,
                    what: str) -> Cell:  # fmt: skip
        """A published budget (e.g. HAQ's preserve ratio 0.1) against the recount of the shipped strategy.

        Exact when the recount matches the spec's value (cost_table) and rounds to the printed budget.
        """
        r = self.row(paper, item, metric)
        ok = r["status"] == EXACT and round_half_up(r["ours"], digits) == published and r["ours"] <= published
        note = f"{what}: budget <= {published:g} met by the shipped strategy ({r['ours']:.7f})"
        return Cell(column, published, EXACT if ok else MISMATCH, r["ours"], note, r["command"])


def needs(column: str, published: float, what: str, command: str = "") -> Cell:
    return Cell(column, published, NEEDS_DATA, note=what, command=command)


def reference(column: str, published: float, why: str) -> Cell:
    return Cell(column, published, REFERENCE, note=why, command="-")


def _fmt(value: float | None, digits: int = 6) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def _diff(value: float | None) -> str:
    return "" if value is None else f"{value:+.4g}"


def ledger_rows(tables: list[Table]) -> list[dict]:
    """One dict per published number, in table order."""
    out = []
    for t in tables:
        for row, cell in t.cells():
            out.append(
                {
                    "table": t.key,
                    "paper": t.paper,
                    "row": row.label,
                    "column": cell.column,
                    "published": cell.published,
                    "ours": "" if cell.ours is None else cell.ours,
                    "difference": "" if cell.difference is None else cell.difference,
                    "status": cell.status,
                    "note": cell.note,
                    "command": cell.command or row.command,
                }
            )
    return out


def ledger_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _status_text(cell_status: str, note: str) -> str:
    return cell_status + (f": {_md_escape(note)}" if note else "")


def table_markdown(t: Table) -> str:
    """The table as generated Markdown: one line per printed number, grouped by the paper's rows."""
    lines = [
        f"# {t.paper}: {t.title}",
        "",
        f"Source: {t.source}. Generated by `python -m reproduce`; do not edit by hand.",
        "",
    ]
    lines += [f"* {n}" for n in t.notes]
    if t.notes:
        lines.append("")
    lines += ["| row | figure | published | ours | diff | status | command |", "|" + "---|" * 7]
    for row in t.rows:
        for i, cell in enumerate(row.cells):
            label = _md_escape(row.label) if i == 0 else ""
            command = cell.command or row.command
            command = f"`{_md_escape(command)}`" if command and command != "-" else "-"
            lines.append(
                f"| {label} | {cell.column} | {cell.published:g} | {_fmt(cell.ours)} | {_diff(cell.difference)} "
                f"| {_status_text(cell.status, cell.note)} | {command} |"
            )
    return "\n".join(lines) + "\n"


def status_counts(cells: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for s in cells:
        counts[s] = counts.get(s, 0) + 1
    return {s: n for s, n in counts.items() if n}


def ledger_markdown(tables: list[Table], rows: list[dict], table_dir: str) -> str:
    """Summary per table (counts per status, link to its file), then every published number."""
    lines = [
        "# Ledger: every published number of the five papers",
        "",
        "Generated by `python -m reproduce` (`make reproduce`); do not edit by hand. Costs are recomputed from",
        "the shipped bit configurations; accuracies say what they need (`needs data`). Statuses are defined in",
        "`reproduce/tables/model.py`.",
        "",
        "| table | paper | figures | " + " | ".join(STATUSES) + " |",
        "|" + "---|" * (3 + len(STATUSES)),
    ]
    for t in tables:
        counts = status_counts(c.status for _, c in t.cells())
        lines.append(
            f"| [{t.key}]({table_dir}/{t.key}.md) | {t.paper} | {sum(counts.values())} | "
            + " | ".join(str(counts.get(s, 0)) for s in STATUSES)
            + " |"
        )
    total = status_counts(r["status"] for r in rows)
    lines.append(f"| **all** | | {len(rows)} | " + " | ".join(str(total.get(s, 0)) for s in STATUSES) + " |")
    lines += ["", "| table | row | figure | published | ours | diff | status | command |", "|" + "---|" * 8]
    for r in rows:
        ours = r["ours"] if r["ours"] == "" else _fmt(r["ours"])
        diff = r["difference"] if r["difference"] == "" else _diff(r["difference"])
        command = f"`{_md_escape(r['command'])}`" if r["command"] and r["command"] != "-" else "-"
        lines.append(
            f"| {r['table']} | {_md_escape(r['row'])} | {r['column']} | {r['published']:g} | {ours} | {diff} | "
            f"{_status_text(r['status'], r['note'])} | {command} |"
        )
    return "\n".join(lines) + "\n"
