"""OMPQ's bit allocation, docs/ompq.md §3.2: linear objective, one size constraint, box bounds, rounding.

With x_i = b_i / 8 and the negated importances t_i = −θ_i (layer order, 0-based):

* objective: minimise Σ_i c_i x_i with c_i = mean(t_i, …, t_{L−1});
* constraint: budget − FL − Σ_i p_i x_i ≥ 0 (p_i, FL in MiB; FL = stem + fc at 8 bit for QAT, 0 for PTQ);
* bounds: QAT x ∈ [0.5, 1] (4–8 bit), PTQ x ∈ [0.25, 0.5] (2–4 bit);
* solver ``slsqp`` (the original: SLSQP from x0 = 1 with the analytic objective gradient and a
  finite-difference constraint gradient), or ``milp`` (an improvement: the exact integer optimum of the same
  objective over integer bits with scipy's HiGHS MILP; no rounding step needed);
* rounding: ``dfs`` (ResNet-18 in the original: floor/ceil search under the continuous size) or ``around``
  (numpy round-half-to-even, every other model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

BOUNDS = {"QAT": (0.5, 1.0), "PTQ": (0.25, 0.5)}
MIB = 1024 * 1024


class AllocationError(ValueError):
    """Infeasible budget or malformed inputs (a user error at the CLI)."""

    user_error = True


@dataclass
class Allocation:
    """Result of :func:`allocate`: continuous solution, integer bits and the figures the original prints."""

    coef: np.ndarray
    x: np.ndarray
    bits_continuous: np.ndarray
    bits: list[int]
    size_mib: float
    solver: str
    rounding: str
    success: bool = True
    nit: int = 0
    dfs_gap: float | None = None
    info: dict = field(default_factory=dict)


def objective_coefficients(neg_theta: Sequence[float]) -> np.ndarray:
    """c_i = (1/(L−i)) Σ_{j≥i} t_j: each layer's mean (negated) importance over itself and all deeper layers."""
    t = np.asarray(neg_theta, dtype=np.float64)
    suffix = np.cumsum(t[::-1])[::-1]
    return suffix / np.arange(len(t), 0, -1)


def dfs_bit(value: Sequence[float], weight: Sequence[float]) -> tuple[list[int], float]:
    """Choose ceil or floor of every ``value`` so that Σ b·w stays ≤ T = Σ value·w with the smallest slack.

    Depth-first, ceil before floor at each position (integral values are visited twice, as in the original);
    a branch is cut once its partial Σ b·w exceeds T; a full assignment replaces the best when its slack
    T − Σ b·w is strictly smaller. Returns (bits, best slack); the initial best slack is T (all-zero bits).
    """
    v = [float(a) for a in value]
    w = [float(a) for a in weight]
    n = len(v)
    thresh = sum(a * b for a, b in zip(v, w, strict=True))
    best = [thresh]
    best_bits = [0] * n
    chosen = [0] * n

    def visit(k: int, total: float) -> None:
        if total > thresh:
            return
        if k == n:
            gap = thresh - total
            if gap < best[0]:
                best[0] = gap
                best_bits[:] = chosen
            return
        for b in (int(np.ceil(v[k])), int(np.floor(v[k]))):
            chosen[k] = b
            visit(k + 1, total + b * w[k])

    visit(0, 0.0)
    return best_bits, best[0]


def solve_slsqp(
    coef: np.ndarray, params_mib: np.ndarray, budget: float, first_last_mib: float, quant_type: str
) -> optimize.OptimizeResult:
    """``scipy.optimize.minimize(method='SLSQP')`` exactly as the original calls it (x0 = ones)."""
    lo, hi = BOUNDS[quant_type]
    n = len(coef)

    def size_slack(x: np.ndarray) -> np.ndarray:
        return np.array([budget - first_last_mib - float(np.sum(x * params_mib))])

    return optimize.minimize(
        lambda x: float(np.dot(x, coef)),
        x0=np.ones(n),
        jac=lambda x: coef,
        method="SLSQP",
        bounds=[(lo, hi)] * n,
        constraints=({"type": "ineq", "fun": size_slack},),
    )


def solve_milp(
    coef: np.ndarray, params_mib: np.ndarray, budget: float, first_last_mib: float, quant_type: str
) -> np.ndarray:
    """Exact integer optimum of Σ c_i b_i/8 s.t. Σ p_i b_i/8 ≤ budget − FL, b_i integer in the bit range."""
    lo, hi = BOUNDS[quant_type]
    n = len(coef)
    res = optimize.milp(
        c=np.asarray(coef) / 8,
        integrality=np.ones(n),
        bounds=optimize.Bounds(np.full(n, 8 * lo), np.full(n, 8 * hi)),
        constraints=optimize.LinearConstraint(
            np.asarray(params_mib)[None, :] / 8, -np.inf, budget - first_last_mib
        ),
    )
    if res.x is None:
        raise AllocationError(f"milp found no feasible bit assignment: {res.message}")
    return np.round(res.x)


def min_size_mib(params_mib: Sequence[float], first_last_mib: float, quant_type: str) -> float:
    """Size with every searchable layer at the lowest bit-width."""
    return float(np.sum(np.asarray(params_mib)) * BOUNDS[quant_type][0] + first_last_mib)


def size_of(bits: Sequence[float], params_mib: Sequence[float], first_last_mib: float) -> float:
    """Σ b_i p_i / 8 + FL (MiB), the figure printed as 'Quantization model is S Mb'."""
    return float(np.sum(np.asarray(bits, dtype=np.float64) * np.asarray(params_mib) / 8) + first_last_mib)


def allocate(
    neg_theta: Sequence[float],
    params_mib: Sequence[float],
    budget: float,
    first_last_mib: float,
    quant_type: str,
    rounding: str = "around",
    solver: str = "slsqp",
) -> Allocation:
    """The search tail of ``feature_extract.py``: coefficients → solver → integer bits → size."""
    if quant_type not in BOUNDS:
        raise AllocationError(f"--quant_type must be QAT or PTQ, got {quant_type!r}")
    p = np.asarray(params_mib, dtype=np.float64)
    if len(p) != len(neg_theta):
        raise AllocationError(f"{len(neg_theta)} importances for {len(p)} layer sizes")
    floor = min_size_mib(p, first_last_mib, quant_type)
    if budget < floor - 1e-12:
        lo = int(8 * BOUNDS[quant_type][0])
        raise AllocationError(
            f"--model_size {budget} Mb is below the all-{lo}-bit size {floor:.4f} Mb of this model ({quant_type})"
        )
    coef = objective_coefficients(neg_theta)
    if solver == "milp":
        bits = solve_milp(coef, p, budget, first_last_mib, quant_type)
        ints = [int(b) for b in bits]
        return Allocation(coef, bits / 8, bits, ints, size_of(ints, p, first_last_mib), solver, "none")
    if solver != "slsqp":
        raise AllocationError(f"unknown solver {solver!r} (slsqp or milp)")
    res = solve_slsqp(coef, p, budget, first_last_mib, quant_type)
    cont = res.x * 8
    gap = None
    if rounding == "dfs":
        rev, gap = dfs_bit(cont[::-1], p[::-1])
        ints = [int(b) for b in rev[::-1]]
    elif rounding == "around":
        ints = [int(b) for b in np.around(cont)]
    else:
        raise AllocationError(f"unknown rounding {rounding!r} (dfs or around)")
    return Allocation(
        coef, res.x, cont, ints, size_of(ints, p, first_last_mib), solver, rounding,
        bool(res.success), int(res.nit), gap,
    )  # fmt: skip


def projection(
    params_mib: Sequence[float], budget: float, first_last_mib: float, quant_type: str
) -> tuple[float, np.ndarray]:
    """Closed form of SLSQP's answer for a flat objective: x_i = clip(hi − λ p_i, lo, hi), Σ p_i x_i = budget − FL.

    λ is found by bisection (the left side decreases monotonically in λ); λ = 0 when the top corner fits.
    """
    lo, hi = BOUNDS[quant_type]
    p = np.asarray(params_mib, dtype=np.float64)
    target = budget - first_last_mib

    def used(lam: float) -> float:
        return float(np.sum(p * np.clip(hi - lam * p, lo, hi)))

    if used(0.0) <= target:
        return 0.0, np.full(len(p), hi)
    a, b = 0.0, 1.0
    while used(b) > target:
        b *= 2
    for _ in range(200):
        mid = 0.5 * (a + b)
        if used(mid) > target:
            a = mid
        else:
            b = mid
    lam = 0.5 * (a + b)
    return lam, np.clip(hi - lam * p, lo, hi)
