"""The HAWQ claims and HMQ paper tables of the ledger, and the FP32 rows' eval_float commands (issue 18 item 5)."""

from __future__ import annotations

import shlex

import pytest

from hawq.utils.models import resolve_arch
from reproduce import eval_float
from reproduce.tables import MODULES, hawq_claims, hawq_model_zoo, hawq_readme, hmq_paper
from reproduce.tables.model import NEEDS_DATA, REFERENCE


def _cells(table) -> dict[tuple[str, str], object]:
    return {(row.label, cell.column): (row, cell) for row, cell in table.cells()}


def test_hawq_claims_are_in_the_ledger() -> None:
    assert hawq_claims in MODULES and hmq_paper in MODULES
    t = hawq_claims.claims_table()
    by_value = {cell.published: (row, cell) for row, cell in t.cells()}
    for value in (75.58, 77.58, 76.73):
        row, cell = by_value[value]
        assert cell.status == NEEDS_DATA and "ImageNet" in cell.note and row.command
    row, _ = by_value[75.58]
    assert "eval_resnet50_bops0.5.sh" in row.command and "resnet50_bops0.5/checkpoint.pth.tar" in row.command
    assert by_value[2.68][1].status == REFERENCE


def test_hmq_paper_rows() -> None:
    t = hmq_paper.paper_table()
    got = {row.label: cell.published for row, cell in t.cells()}
    assert got == {f"{tab}: {label}": top1 for tab, label, _, top1, _, _ in hmq_paper.ROWS}
    for row, cell in t.cells():
        argv = shlex.split(row.command)
        target = argv[argv.index("--target_compression") + 1]
        assert cell.status == NEEDS_DATA and f"run target {target}" in cell.note


def _fp32_commands() -> list[str]:
    rows = [r for t in hawq_readme.readme_tables(_NoCosts()) for r in t.rows if r.label == "FP32"]
    zoo = [
        r for r in hawq_model_zoo.model_zoo_table(_NoCosts()).rows if "FP32" in r.label and r.command != "-"
    ]
    return [r.command for r in rows + zoo]


class _NoCosts:
    """Cost lookups answer a placeholder cell: these tests look at the accuracy cells only."""

    def cell(self, column, *args):
        from reproduce.tables.model import Cell

        return Cell(column, 0.0, NEEDS_DATA, note="-")


def test_fp32_rows_name_a_working_eval_float_command() -> None:
    commands = _fp32_commands()
    assert len(commands) == 6  # README x2, model zoo x2, ResNet101 and InceptionV3 baselines
    for command in commands:
        argv = shlex.split(command)
        assert argv[:3] == ["python", "-m", "reproduce.eval_float"]
        args = eval_float.build_parser().parse_args(argv[3:])
        assert args.paper == "hawq"
        resolve_arch(args.arch)  # an arch HAWQ's entrypoint accepts
    with pytest.raises(SystemExit):
        eval_float.build_parser().parse_args(["--paper", "nope", "-a", "x", "--data", "d"])
