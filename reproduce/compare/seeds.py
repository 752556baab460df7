"""Several seeds of one benchmark: per-row mean ± std of top-1, the spread of the bits, and ties.

With ``--seeds N`` every search and fine-tune runs once per seed ``s0 .. s0+N-1``; the rows of one label are
merged into one row whose top-1 is the mean with the sample standard deviation (``ddof=1``; 0 for one seed),
whose average weight bits, size and BOPs are the means with their range (min-max) over the seeds, and whose
search and fine-tune seconds are the means. Two rows *tie* when their mean top-1 differ by less than the larger
of their two standard deviations.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

#: the accuracy keys that get a ``<key>_std``
ACC_KEYS = ("acc_own", "acc_common")
#: the cost keys that get a ``<key>_range`` (min, max)
COST_KEYS = ("avg_wbits", "size_kB", "GBOPs")
TIME_KEYS = ("search_s", "search_images", "finetune_s")


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def merge_seeds(per_seed: Sequence[Sequence[dict[str, Any]]], seeds: Sequence[int]) -> list[dict[str, Any]]:
    """One row per label from the rows of every seed (same labels, same order)."""
    merged = []
    for group in zip(*per_seed, strict=True):
        row = dict(group[0])
        row["seeds"] = len(seeds)
        row["seed_list"] = list(seeds)
        ok = [r for r in group if not r.get("failed") and not r.get("unsupported")]
        if len(ok) < len(group) and ok:
            row["notes"] = [*row.get("notes", []), f"{len(group) - len(ok)} of {len(group)} seeds failed"]
        for key in ACC_KEYS:
            values = [float(r[key]) for r in ok if r.get(key) is not None]
            if values:
                row[key], row[f"{key}_std"] = _mean_std(values)
        for key in COST_KEYS:
            values = [float(r[key]) for r in ok if r.get(key) is not None]
            if values:
                row[key], row[f"{key}_range"] = statistics.fmean(values), [min(values), max(values)]
        for key in TIME_KEYS:
            values = [float(r[key]) for r in ok if r.get(key) is not None]
            if values:
                row[key] = statistics.fmean(values)
        if len({r.get("bits") for r in ok}) > 1:
            row["bits"] = ok[0]["bits"]
            row["notes"] = [
                *row.get("notes", []),
                f"bits differ across seeds ({len({r['bits'] for r in ok})} configs); first seed's shown",
            ]
        merged.append(row)
    mark_ties(merged)
    return merged


def mark_ties(rows: list[dict[str, Any]], key: str = "acc_common", fallback: str = "acc_own") -> None:
    """Set ``row["ties"]`` to the labels whose mean top-1 is within the larger of the two std's of the row's.

    The common QAT path's top-1 is compared where both rows have it, else each method's own fine-tune.
    """

    def score(row: dict[str, Any]) -> tuple[float, float] | None:
        for k in (key, fallback):
            if row.get(k) is not None:
                return float(row[k]), float(row.get(f"{k}_std", 0.0))
        return None

    for row in rows:
        mine = score(row)
        if mine is None:
            continue
        ties = []
        for other in rows:
            theirs = score(other)
            if other is row or theirs is None:
                continue
            if abs(mine[0] - theirs[0]) < max(mine[1], theirs[1]):
                ties.append(other["label"])
        row["ties"] = ties
