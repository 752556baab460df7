"""A published figure, how we compute it, and how the two compare.

Status values:

* ``exact``: ours, rounded as the paper prints it, equals the published value;
* ``documented deviation``: not equal, but within the bound the spec documents (with the reason);
* ``MISMATCH``: anything else (a regression).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

EXACT = "exact"
DEVIATION = "documented deviation"
MISMATCH = "MISMATCH"


def round_half_up(value: float, digits: int) -> float:
    """Round as papers print (0.15625 -> 0.1563), not as Python's banker's rounding does."""
    return float(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


@dataclass
class Figure:
    """One published number and the computation that reproduces it."""

    paper: str
    item: str
    metric: str
    published: float
    digits: int
    command: str
    compute: Callable[[], float]
    deviation_bound: float | None = None
    reason: str = ""
    #: how the paper prints the number: "half_up" rounding, or "floor" (truncation)
    rounding: str = "half_up"

    def evaluate(self) -> dict:
        ours = float(self.compute())
        if self.rounding == "floor":
            scale = 10**self.digits
            shown = math.floor(ours * scale) / scale
        else:
            shown = round_half_up(ours, self.digits)
        if shown == self.published:
            status = EXACT
        elif self.deviation_bound is not None and abs(ours - self.published) <= self.deviation_bound:
            status = DEVIATION
        else:
            status = MISMATCH
        return {
            "paper": self.paper,
            "item": self.item,
            "metric": self.metric,
            "published": self.published,
            "ours": ours,
            "ours_rounded": shown,
            "difference": ours - self.published,
            "status": status,
            "rounding": self.rounding,
            "reason": self.reason,
            "command": self.command,
            "digits": self.digits,
        }


def to_markdown(rows: list[dict]) -> str:
    """A generated Markdown table (never edit it by hand; rerun the command)."""
    head = "| paper | item | metric | published | ours | diff | status | command |"
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        status = r["status"] + (f" ({r['reason']})" if r["reason"] and r["status"] != EXACT else "")
        lines.append(
            f"| {r['paper']} | {r['item']} | {r['metric']} | {r['published']:g} | {r['ours']:.6g} | "
            f"{r['difference']:+.4g} | {status} | `{r['command']}` |"
        )
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
