"""Temperature annealing, staged compression targets and checkpoint selection (docs/hmq.md 3.6, 5, 8).

* Temperature at global iteration j with N batches per epoch:
  ``tau_j = max(0.5, exp(-temp_step * round((j mod (cycle_size N)) / n)))``, ``n = round(N / n_gumbel)``
  (NumPy half-to-even). With N < 12.5 the original gets ``n = 0`` and tau is NaN at each cycle start
  (then the hard path is taken) and 0.5 elsewhere (quirk 5); ``fix_small_epochs`` uses ``n = max(1, ...)``.
* Target of epoch e: ``linspace(4, target, n_target_steps)[min(e // cycle_size, n_target_steps - 1)]``.
* Pareto-best: save when first, or when WCR and accuracy both beat the last *saved* epoch. Single-best:
  save when accuracy beats the best so far.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["CR_START", "ParetoBest", "SingleBest", "target_schedule", "temperature_schedule"]

CR_START = 4.0


def temperature_schedule(
    batches_per_epoch: int,
    cycle_size: int = 5,
    n_gumbel: int = 25,
    temp_step: float = 1e-2,
    fix_small_epochs: bool = False,
) -> Callable[[int], float]:
    """``tau(j)`` for global iteration ``j`` (``j < 0`` gives 1)."""
    cycle = cycle_size * batches_per_epoch
    n = float(np.round(batches_per_epoch / n_gumbel))
    if fix_small_epochs:
        n = max(1.0, n)

    def tau(j: int) -> float:
        if j < 0:
            return 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.round((j % cycle) / np.float64(n))
            return float(np.maximum(0.5, np.exp(-temp_step * step)))

    return tau


def target_schedule(
    target: float, cycle_size: int = 5, n_target_steps: int = 4, start: float = CR_START
) -> Callable[[int], float]:
    """Compression target of epoch ``e`` (``e < 0`` gives 1)."""
    values = np.linspace(start, target, n_target_steps)

    def at(e: int) -> float:
        if e < 0:
            return 1.0
        return float(values[min(int(e / cycle_size), len(values) - 1)])

    return at


class ParetoBest:
    """The original's Pareto rule: better in both WCR and accuracy than the last saved point."""

    def __init__(self) -> None:
        self.last: tuple[float, float] | None = None

    def update(self, wcr: float, acc: float) -> bool:
        if self.last is None or (wcr > self.last[0] and acc > self.last[1]):
            self.last = (wcr, acc)
            return True
        return False


class SingleBest:
    """Save when the accuracy is strictly above the best so far."""

    def __init__(self) -> None:
        self.best: float | None = None

    def update(self, acc: float) -> bool:
        if self.best is None or acc > self.best:
            self.best = acc
            return True
        return False
