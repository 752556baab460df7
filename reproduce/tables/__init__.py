"""One module per published table or figure of the five papers; :func:`all_tables` builds them all.

Each module's ``tables(costs)`` returns its :class:`~reproduce.tables.model.Table` objects (a README with two
tables returns two). Nothing here trains or evaluates: costs are looked up in the rows of
:mod:`reproduce.cost_table`, accuracies carry the command and the data they need.
"""

from __future__ import annotations

from reproduce.tables import (
    haq_readme,
    hawq_claims,
    hawq_model_zoo,
    hawq_readme,
    hmq_cifar,
    hmq_imagenet_pareto,
    hmq_paper,
    ompq_brecq_figure,
    ompq_ptq,
    ompq_qat,
    proqha_readme,
)
from reproduce.tables.model import CostLookup, Table

MODULES = (
    hawq_readme,
    hawq_model_zoo,
    hawq_claims,
    haq_readme,
    proqha_readme,
    ompq_qat,
    ompq_ptq,
    ompq_brecq_figure,
    hmq_imagenet_pareto,
    hmq_paper,
    hmq_cifar,
)


def all_tables(cost_rows: list[dict]) -> tuple[list[Table], CostLookup]:
    """Every table, built on the evaluated cost figures; the lookup records which figures the tables used."""
    costs = CostLookup(cost_rows)
    tables = [t for module in MODULES for t in module.tables(costs)]
    return tables, costs
