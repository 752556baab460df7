"""Action -> bit-width mapping and the budget-enforcement loops of HAQ (docs/haq.md sections 3.3, 3.4 and 7).

* :func:`action_to_bit`: ``b = round((b_max - b_min + 1)·a + b_min - 0.5)`` with numpy's round-half-to-even and
  no clamping (an action of exactly 0 with an odd ``b_min`` gives ``b_min - 1``).
* :func:`kmeans_budget_wall`: model size ``Σ b_i·n_i`` must not exceed ``ratio·float_bit·Σ n_i``.
* :func:`linear_budget_wall`: latency ``Σ T[i, w_i-1, a_i-1]`` must not exceed ``ratio·Σ T[i, fb-1, fb-1]``.

Both walls sweep the layers from the last to the first, lowering one bit at a time and checking the budget
after every single decrement; the sweep repeats until the budget or the all-``min_bit`` floor is reached.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class BudgetError(ValueError):
    """A budget that no strategy within the bit range can meet (reported as one line, exit status 2)."""

    user_error = True


def action_to_bit(action: float, min_bit: float, max_bit: float) -> int:
    """Map a continuous action in [0, 1] to a bit-width (section 3.3)."""
    lo, hi = min_bit - 0.5, max_bit + 0.5
    return int(np.round((hi - lo) * float(action) + lo))


def kmeans_size(strategy: Sequence[int], weight_counts: Sequence[int]) -> float:
    """Model size in bits ``Σ b_i·n_i`` (quantizable weight tensors only, section 7); a partial strategy counts its first layers."""
    return float(sum(b * n for b, n in zip(strategy, weight_counts, strict=False)))


def kmeans_budget_wall(
    strategy: Sequence[int], weight_counts: Sequence[int], ratio: float, min_bit: float, float_bit: float = 32
) -> list[int]:
    """Lower weight bits from the last layer backwards until ``size <= ratio·float_bit·Σ n_i`` (section 3.4).

    Returns a new list. Stops at the floor where every layer is at ``min_bit`` (the caller checks
    ``ratio > min_bit/float_bit`` up front, so the floor is always within budget).
    """
    s = [int(b) for b in strategy]
    total = float(sum(weight_counts))
    target = ratio * float_bit * total
    floor = min_bit * total
    size = kmeans_size(s, weight_counts)
    while floor < size and target < size:
        for j in range(len(s) - 1, -1, -1):
            if s[j] > min_bit:
                s[j] -= 1
                size -= weight_counts[j]
            if target >= size:
                break
    return s


def latency_cost(strategy: Sequence[Sequence[int]], table: np.ndarray) -> float:
    """``Σ_i T[i, w_i-1, a_i-1]`` with Python negative indexing (a = -1 reads the 7-bit column, section 7)."""
    return float(sum(table[i, int(w) - 1, int(a) - 1] for i, (w, a) in enumerate(strategy)))


def reference_latency(table: np.ndarray, float_bit: int = 8) -> float:
    """Cost of every layer at ``float_bit``/``float_bit``: ``Σ_i T[i, fb-1, fb-1]``."""
    return float(table[:, int(float_bit) - 1, int(float_bit) - 1].sum())


def minimum_latency(table: np.ndarray, min_bit: int) -> float:
    """The start-up bound of the linear search: first and last layer at 8/8, the rest at ``min_bit``."""
    inner = table[1:-1, int(min_bit) - 1, int(min_bit) - 1].sum()
    return float(table[0, -1, -1] + table[-1, -1, -1] + inner)


def pin_first_last(strategy: list[list[int]]) -> None:
    """The original's first/last-layer rule: stem at [8, -1] (image not quantized), classifier at [8, 8]."""
    strategy[0][0], strategy[0][1] = 8, -1
    strategy[-1][0], strategy[-1][1] = 8, 8


def linear_budget_wall(
    strategy: Sequence[Sequence[int]],
    table: np.ndarray,
    ratio: float,
    min_bit: float,
    float_bit: int = 8,
    always_pin_first_last: bool = False,
) -> list[list[int]]:
    """Lower activation then weight bits, last layer first, until latency ``<= ratio·reference`` (section 3.4).

    Faithful default: the first/last-layer pinning happens only inside the loop, so a strategy that already
    meets the budget keeps the agent's bits there (quirk 5 of section 8). ``always_pin_first_last`` pins them
    before the check as well. Returns a new list of ``[w, a]`` pairs. A sweep that changes nothing while the
    budget is still exceeded raises :class:`BudgetError` instead of looping for ever.
    """
    s = [[int(w), int(a)] for w, a in strategy]
    if always_pin_first_last:
        pin_first_last(s)
    target = ratio * reference_latency(table, float_bit)
    m = int(min_bit) - 1
    floor = float(sum(table[i, m, m] for i in range(len(s))))
    cost = latency_cost(s, table)
    while floor < cost and target < cost:
        before = [list(x) for x in s]
        for j in range(len(s) - 1, -1, -1):
            met = False
            for slot in (1, 0):
                if s[j][slot] > min_bit:
                    s[j][slot] -= 1
                pin_first_last(s)
                cost = latency_cost(s, table)
                if target >= cost:
                    met = True
                    break
            if met:
                break
        if s == before:
            raise BudgetError(
                f"latency budget {ratio} x reference is unreachable: the cheapest strategy with the first and "
                f"last layers pinned costs {cost / reference_latency(table, float_bit):.4f} x reference"
            )
    return s
