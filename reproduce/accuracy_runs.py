"""The two accuracy modes of ``python -m reproduce``: evaluate released checkpoints, or run the papers' scripts.

``--data DIR --checkpoints DIR`` runs the EVAL recipe of every row whose authors released a checkpoint
(:mod:`reproduce.accuracy_recipes`; ``--list-checkpoints`` prints the files expected under the checkpoints
folder); ``--train`` runs the TRAIN recipe of every row (the per-paper script the table shows). Each run is a
subprocess in the repository root whose output streams to ``OUT/<table>/<row>/<mode>.log``; its run folder is
``OUT/<table>/<row>/<mode>/``. The numbers it writes (``final.json``, a CSV or the log) fill the row's cells:
``exact`` when the measured value, rounded half up as the paper prints it, equals the published one, else
``deviates`` with the note ``measured by <mode>; <difference>``. A missing input keeps ``needs data`` and names
the exact path; a run that fails is ``failed`` with its log, and the other rows still run.
``--rows PATTERN`` (fnmatch on ``table/row``) selects rows, ``--dry-run`` prints the commands only.

Standalone: ``python -m reproduce.accuracy_runs --data DIR --checkpoints DIR [--out runs/reproduce]`` also
recomputes the costs and writes the ledger (``ledger.md``, ``ledger.csv``, ``tables/``) with the measured cells.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.runtime import UsageError, atomic_write_text, run_main, write_json_atomic
from reproduce.accuracy_recipes import CIFAR10_DATA, EVAL, LOG, TRAIN, Field, Recipe
from reproduce.figures import EXACT, round_half_up
from reproduce.tables.model import (
    DEVIATES,
    FAILED,
    NEEDS_DATA,
    REFERENCE,
    Cell,
    CostLookup,
    Row,
    Table,
    ledger_csv,
    ledger_markdown,
    ledger_rows,
    table_markdown,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
#: statuses of a :class:`RunRecord`
MEASURED = "measured"
PLANNED = "planned"


@dataclass
class RunRecord:
    """One recipe of one row: what ran (or would run), its log and what it measured."""

    table: str
    row: str
    mode: str
    status: str
    command: str
    log: str = ""
    values: dict[str, float] = field(default_factory=dict)
    detail: str = ""


@dataclass
class AccuracySummary:
    records: list[RunRecord] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.records:
            out[r.status] = out.get(r.status, 0) + 1
        return out


class ResultError(RuntimeError):
    """A run finished but its result file or line is missing."""


def row_id(table: Table, row: Row) -> str:
    """The name ``--rows`` matches: ``<table key>/<row label>``."""
    return f"{table.key}/{row.label}"


def slug(label: str) -> str:
    """A row label as a folder name: ``Mixed (bops_0.5)`` -> ``Mixed_bops_0.5``."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", label).strip("_") or "row"


def run_dir(out: Path, table_key: str, label: str, mode: str) -> Path:
    """The run folder of a recipe; its log is the same path with ``.log``."""
    return out / table_key / slug(label) / mode


# ------------------------------------------------------------------------------------------ resolving a recipe


def _values(
    recipe: Recipe, data: Path | None, checkpoints: Path | None, out_dir: Path, link_dir: Path | None
) -> dict:
    return {
        "data": "" if data is None else str(data),
        "out": str(out_dir),
        "checkpoints": "" if checkpoints is None else str(checkpoints),
        "link": "" if link_dir is None else str(link_dir),
    }


def resolve_argv(recipe: Recipe, values: dict[str, str]) -> list[str]:
    """The recipe's argv with placeholders filled and ``python``/``torchrun`` bound to this interpreter."""
    argv = [recipe.substitute(a, values) for a in recipe.argv]
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    if argv[0] == "torchrun":
        return [sys.executable, "-m", "torch.distributed.run", *argv[1:]]
    return argv


def resolve_env(recipe: Recipe, values: dict[str, str]) -> dict[str, str]:
    """The recipe's own variables, filled (the runner adds them to a copy of the environment)."""
    return {k: recipe.substitute(v, values) for k, v in recipe.env}


def shell_line(argv: Sequence[str], env: dict[str, str]) -> str:
    return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), shlex.join(argv)])


def missing_inputs(recipe: Recipe, values: dict[str, str], chained: bool = True) -> list[str]:
    """The inputs that do not exist, as the exact paths expected (or what flag would supply them).

    ``chained=False`` skips the inputs another row's run writes (``{link}``), as a dry run must.
    """
    missing = []
    for item in recipe.inputs:
        if "{link}" in item and not chained:
            continue
        if "{checkpoints}" in item and not values["checkpoints"]:
            rel = item.replace("{checkpoints}/", "")
            missing.append(f"CHECKPOINTS/{rel} (pass --checkpoints DIR)")
            continue
        path = Path(recipe.substitute(item, values))
        if not path.is_file():
            missing.append(str(path))
    return missing


# ------------------------------------------------------------------------------------------- reading results


def read_field(f: Field, run_out: Path, log: Path) -> float:
    """The number ``f`` names, from the run folder or the log (see :class:`~reproduce.accuracy_recipes.Field`)."""
    if f.source == LOG:
        text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
        found = re.findall(f.key, text)
        if not found:
            raise ResultError(f"no line matching {f.key!r} in {log}")
        return float(found[-1])
    path = run_out / f.source
    if not path.is_file():
        raise ResultError(f"{path} not written")
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get(f.key, "") != ""]
        if not rows:
            raise ResultError(f"no column {f.key!r} in {path}")
        row = max(rows, key=lambda r: float(r[f.best_by])) if f.best_by else rows[-1]
        return float(row[f.key])
    value = json.loads(path.read_text(encoding="utf-8")).get(f.key)
    if value is None:
        raise ResultError(f"no key {f.key!r} in {path}")
    return float(value)


def read_results(recipe: Recipe, run_out: Path, log: Path) -> dict[str, float]:
    """Every field of the recipe, by column; a NaN counts as missing."""
    values = {}
    for f in recipe.fields:
        value = read_field(f, run_out, log)
        if math.isnan(value):
            raise ResultError(f"{f.key} is NaN in the output of {run_out}")
        values[f.column] = value
    return values


def _cells(row: Row, columns: Sequence[str]) -> list[Cell]:
    return [c for c in row.cells if c.column in columns and c.status != REFERENCE]


def judge(published: float, measured: float, digits: int) -> str:
    """``exact`` if ``measured`` rounded half up to ``digits`` equals ``published``, else ``deviates``."""
    return EXACT if round_half_up(measured, digits) == round_half_up(published, digits) else DEVIATES


def fill_measured(row: Row, recipe: Recipe, values: dict[str, float], command: str, log: Path | None) -> None:
    """Put measured values into the row's cells: ours, status (exact/deviates), a note and the command."""
    digits = {f.column: f.digits for f in recipe.fields}
    for cell in _cells(row, list(values)):
        before = cell.ours if cell.note.startswith("measured by") else None
        value = values[cell.column]
        cell.ours = value
        cell.status = judge(cell.published, value, digits[cell.column])
        note = f"measured by {recipe.mode}; {value - cell.published:+.3g}"
        if before is not None:
            note += f" (earlier run: {before:.{digits[cell.column]}f})"
        cell.note = note + (f"; log {log}" if log is not None else "")
        cell.command = command


def mark_failed(row: Row, recipe: Recipe, why: str, log: Path, command: str) -> None:
    """A failed run: its cells (still unmeasured) become ``failed`` with the reason and the log."""
    for cell in _cells(row, recipe.columns()):
        if cell.note.startswith("measured by"):
            continue
        cell.status = FAILED
        cell.note = f"{recipe.mode} run failed: {why}; log {log}"
        cell.command = command


def mark_missing(row: Row, recipe: Recipe, missing: Sequence[str]) -> None:
    """Cells whose recipe lacks an input stay ``needs data``, naming the exact files expected."""
    for cell in _cells(row, recipe.columns()):
        if cell.status == NEEDS_DATA:
            cell.note = f"{recipe.mode} needs {', '.join(missing)}; {cell.note}"


# ------------------------------------------------------------------------------------------------- running


def _run(argv: list[str], env: dict[str, str], log: Path) -> int:
    """Run ``argv`` in the repository root with its output streamed to ``log``; returns the exit status."""
    full = dict(os.environ)
    full.update(env)
    full.setdefault("PYTHON", sys.executable)
    full["PATH"] = str(Path(sys.executable).parent) + os.pathsep + full.get("PATH", "")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as fh:
        fh.write(f"# cwd {REPO_ROOT}\n# {shell_line(argv, env)}\n")
        fh.flush()
        return subprocess.run(argv, cwd=REPO_ROOT, env=full, stdout=fh, stderr=subprocess.STDOUT).returncode


def _selected(tables: list[Table], rows: str | None) -> list[tuple[Table, Row]]:
    out = []
    for t in tables:
        for row in t.rows:
            if row.accuracy is None or not row.accuracy.recipes:
                continue
            if rows is None or fnmatch.fnmatchcase(row_id(t, row), rows):
                out.append((t, row))
    return out


def run_accuracy(
    tables: list[Table],
    data: Path | None,
    checkpoints: Path | None,
    train: bool,
    out: Path,
    only: str | None = None,
    dry_run: bool = False,
    cifar10: Path | None = None,
    rerun: bool = False,
) -> AccuracySummary:
    """Run the recipes of the rows matching ``only`` (fnmatch on ``table/row``) and fill their cells in place.

        EVAL recipes run when ``checkpoints`` is given, TRAIN recipes when ``train`` is set (both may run for one
        row; the later fills the cell and the note keeps the earlier value). A recipe that finished before with the
    same command (``<run>.done.json``) is read back instead of run again, unless ``rerun``. ``data`` is the
    ImageNet folder,
        ``cifar10`` the CIFAR-10 folder of the CIFAR recipes. ``dry_run`` prints each command and runs nothing.
        Returns one :class:`RunRecord` per recipe considered.
    """
    summary = AccuracySummary()
    out = out.resolve()
    data, checkpoints, cifar10 = (None if p is None else p.resolve() for p in (data, checkpoints, cifar10))
    for t, row in _selected(tables, only):
        recipes = [r for r in (row.accuracy.eval if checkpoints is not None else None,
                               row.accuracy.train if train else None) if r is not None]  # fmt: skip
        for recipe in recipes:
            summary.records.append(
                _run_recipe(t, row, recipe, data, checkpoints, out, dry_run, cifar10, rerun)
            )
    return summary


def _run_recipe(
    t: Table,
    row: Row,
    recipe: Recipe,
    data: Path | None,
    checkpoints: Path | None,
    out: Path,
    dry_run: bool,
    cifar10: Path | None,
    rerun: bool = False,
) -> RunRecord:
    run_out = run_dir(out, t.key, row.label, recipe.mode)
    log = run_out.with_suffix(".log")
    link = run_dir(out, *recipe.link, TRAIN) if recipe.link else None
    folder = cifar10 if recipe.data == CIFAR10_DATA else data
    values = _values(recipe, folder, checkpoints, run_out, link)
    argv, env = resolve_argv(recipe, values), resolve_env(recipe, values)
    command = shell_line(argv, env)
    record = RunRecord(t.key, row.label, recipe.mode, PLANNED, command, str(log))
    missing = missing_inputs(recipe, values, chained=not dry_run)
    if folder is None:
        missing.insert(
            0, "a CIFAR-10 folder (--cifar10 DIR)" if recipe.data == CIFAR10_DATA else "--data DIR"
        )
    if missing:
        mark_missing(row, recipe, missing)
        record.status, record.detail = NEEDS_DATA, "missing " + ", ".join(missing)
        print(f"[{recipe.mode}] {row_id(t, row)}: needs {', '.join(missing)}", flush=True)
        return record
    if dry_run:
        print(f"[{recipe.mode}] {row_id(t, row)}:\n  {command}", flush=True)
        return record
    done = run_out.with_suffix(".done.json")
    if not rerun and done.is_file():
        finished = json.loads(done.read_text(encoding="utf-8"))
        if finished.get("command") == command:
            record.values = {k: float(v) for k, v in finished["values"].items()}
            fill_measured(row, recipe, record.values, command, log)
            record.status = MEASURED
            print(
                f"[{recipe.mode}] {row_id(t, row)}: finished before ({done}); --rerun runs it again",
                flush=True,
            )
            return record
    print(f"[{recipe.mode}] {row_id(t, row)}: running, log {log}", flush=True)
    started = time.perf_counter()
    code = _run(argv, env, log)
    try:
        if code != 0:
            raise ResultError(f"exit status {code}")
        record.values = read_results(recipe, run_out, log)
    except ResultError as exc:
        mark_failed(row, recipe, str(exc), log, command)
        record.status, record.detail = FAILED, str(exc)
        print(f"  failed ({exc}); log {log}", flush=True)
        return record
    fill_measured(row, recipe, record.values, command, log)
    record.status = MEASURED
    write_json_atomic(done, {"command": command, "values": record.values})
    measured = ", ".join(f"{k} {v:.4g}" for k, v in record.values.items())
    print(f"  {measured} ({time.perf_counter() - started:.0f} s)", flush=True)
    return record


# ------------------------------------------------------------------------------------------ the command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The accuracy-mode flags of ``python -m reproduce``."""
    g = parser.add_argument_group("accuracy modes (default: costs only; accuracies say what they need)")
    g.add_argument("--data", type=Path, metavar="DIR", help="ImageNet folder (train/ and val/) for the runs")
    g.add_argument(
        "--checkpoints",
        type=Path,
        metavar="DIR",
        help="folder of the released checkpoints (layout: --list-checkpoints); evaluates them",
    )
    g.add_argument("--train", action="store_true", help="run each row's per-paper training/search script")
    g.add_argument(
        "--cifar10", type=Path, metavar="DIR", help="CIFAR-10 folder for HMQ's CIFAR rows (--train)"
    )
    g.add_argument("--rows", metavar="PATTERN", help="only rows whose 'table/row' matches (fnmatch)")
    g.add_argument("--dry-run", action="store_true", help="print the commands it would run; run nothing")
    g.add_argument(
        "--rerun", action="store_true", help="run again the rows that finished before (default: reuse)"
    )
    g.add_argument(
        "--list-checkpoints", action="store_true", help="print the checkpoints folder layout and exit"
    )


def check_args(args: argparse.Namespace) -> None:
    """Validate the accuracy flags; a problem is a :class:`UsageError` (one line, exit status 2)."""
    if args.checkpoints is not None and args.data is None:
        raise UsageError(
            "--checkpoints needs --data DIR (the ImageNet folder the checkpoints are evaluated on)"
        )
    if args.train and args.data is None and args.cifar10 is None:
        raise UsageError("--train needs --data DIR (and --cifar10 DIR for HMQ's CIFAR rows)")
    for flag, path in (
        ("--data", args.data),
        ("--checkpoints", args.checkpoints),
        ("--cifar10", args.cifar10),
    ):
        if path is not None and not path.is_dir():
            raise UsageError(f"{flag} folder not found: {path}")
    if (args.rows or args.dry_run) and not requested(args):
        raise UsageError("--rows and --dry-run need --checkpoints DIR or --train")


def requested(args: argparse.Namespace) -> bool:
    """Whether any accuracy mode was asked for."""
    return args.checkpoints is not None or bool(args.train)


def run_from_args(args: argparse.Namespace, tables: list[Table], out: Path) -> AccuracySummary:
    """:func:`run_accuracy` with the parsed flags, then a one-line summary."""
    summary = run_accuracy(
        tables,
        args.data,
        args.checkpoints,
        args.train,
        out,
        args.rows,
        args.dry_run,
        args.cifar10,
        args.rerun,
    )
    counts = summary.counts()
    print(
        f"accuracy runs ({'dry run' if args.dry_run else out}): "
        + (", ".join(f"{n} {s}" for s, n in counts.items()) or "no row matched")
    )
    return summary


def write_ledger(out: Path, tables: list[Table]) -> list[dict]:
    """Rewrite ``out/tables/*.md``, ``out/ledger.csv`` and ``out/ledger.md`` from (measured) tables."""
    for t in tables:
        atomic_write_text(out / "tables" / f"{t.key}.md", table_markdown(t))
    rows = ledger_rows(tables)
    atomic_write_text(out / "ledger.csv", ledger_csv(rows))
    atomic_write_text(out / "ledger.md", ledger_markdown(tables, rows, "tables"))
    return rows


# ------------------------------------------------------------------------------------- the checkpoints folder


class _NoCosts(CostLookup):
    """A cost lookup that evaluates nothing: the tables' rows and recipes without their cost figures."""

    def __init__(self) -> None:
        super().__init__([])

    def cell(self, column: str, paper: str, item: str, metric: str) -> Cell:
        return Cell(column, math.nan, NEEDS_DATA, note="cost not evaluated", command="-")

    def budget_cell(self, column: str, published: float, *args: Any) -> Cell:
        return Cell(column, published, NEEDS_DATA, note="cost not evaluated", command="-")


def recipe_tables() -> list[Table]:
    """Every table with its rows and recipes, built without evaluating a cost (fast; for listings)."""
    from reproduce.tables import MODULES

    costs = _NoCosts()
    return [t for module in MODULES for t in module.tables(costs)]


def _recipe_files(tables: list[Table], mode: str) -> dict[str, list[str]]:
    """Files the ``mode`` recipes (EVAL or TRAIN) read from the checkpoints folder -> the rows they serve."""
    layout: dict[str, list[str]] = {}
    for t in tables:
        for row in t.rows:
            recipe = None if row.accuracy is None else getattr(row.accuracy, mode)
            if recipe is not None:
                for rel in recipe.checkpoint_files():
                    layout.setdefault(rel, []).append(row_id(t, row))
    return dict(sorted(layout.items()))


def checkpoint_layout(tables: list[Table]) -> dict[str, list[str]]:
    """Every file the EVAL recipes expect under the checkpoints folder -> the rows it serves."""
    return _recipe_files(tables, EVAL)


def input_files(tables: list[Table]) -> dict[str, list[str]]:
    """Files the TRAIN recipes read from the checkpoints folder (e.g. HMQ's float CIFAR network) -> rows."""
    return _recipe_files(tables, TRAIN)


def checkpoint_listing(tables: list[Table] | None = None) -> str:
    """The checkpoints folder layout as text: one expected file per line, with the rows it serves."""
    tables = recipe_tables() if tables is None else tables
    lines = ["CHECKPOINTS/ (--checkpoints DIR): released checkpoints evaluated by the EVAL recipes"]
    for rel, rows in checkpoint_layout(tables).items():
        lines.append(f"  {rel}")
        lines += [f"      {r}" for r in rows]
    extra = input_files(tables)
    if extra:
        lines.append("read by TRAIN recipes (--train with --checkpoints DIR):")
        for rel, rows in extra.items():
            lines.append(
                f"  {rel}  ({len(rows)} rows: {rows[0]}, ...)" if len(rows) > 1 else f"  {rel}  ({rows[0]})"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone: costs, every table, the accuracy runs, then the ledger with the measured cells."""
    p = argparse.ArgumentParser(
        prog="python -m reproduce.accuracy_runs", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--out", type=Path, default=Path("runs/reproduce"))
    add_arguments(p)
    args = p.parse_args(argv)
    check_args(args)
    if args.list_checkpoints:
        print(checkpoint_listing())
        return 0
    if not requested(args):
        raise UsageError("nothing to run: pass --data DIR with --checkpoints DIR and/or --train")
    if args.dry_run:
        tables = recipe_tables()
    else:
        from reproduce.cost_table import all_figures
        from reproduce.tables import all_tables

        tables, _ = all_tables([fig.evaluate() for fig in all_figures(args.out / "configs")])
    summary = run_from_args(args, tables, args.out / "accuracy")
    if not args.dry_run:
        write_ledger(args.out, tables)
        print(f"ledger with the measured accuracies: {args.out / 'ledger.md'}")
    return int(any(r.status == FAILED for r in summary.records))


if __name__ == "__main__":
    sys.exit(run_main(main))
