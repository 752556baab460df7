"""The cost-convention interface and registry.

A convention is one paper's way of counting: which layers count, whether BN and bias are charged,
MB or MiB, which layers are pinned to 8 bits, and the quirks its published numbers depend on. Each
lives in ``common/cost/conventions/<paper>.py`` next to the figures it reproduces.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from common.cost.counters import uniform_bits
from common.layers import LayerInfo


class CostError(ValueError):
    """A cost cannot be computed for this input (wrong arch for a convention, bad bits, ...)."""

    user_error = True


@dataclass
class CostReport:
    """Per-layer rows and totals of one cost evaluation.

    ``rows`` are dicts with at least ``name``, ``w`` and ``a``; ``totals`` maps a metric name to its
    value; ``units`` explains each total in words.
    """

    arch: str
    convention: str
    input_size: int
    rows: list[dict[str, Any]]
    totals: dict[str, float]
    units: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "convention": self.convention,
            "input_size": self.input_size,
            "totals": self.totals,
            "units": self.units,
            "notes": self.notes,
            "layers": self.rows,
        }


class Convention(ABC):
    """One paper's counting rules. Subclasses set ``name`` and ``description``."""

    name: str = ""
    description: str = ""
    #: architectures the convention is defined for (``None``: any registered model)
    archs: tuple[str, ...] | None = None

    def check_arch(self, arch: str) -> None:
        if self.archs is not None and arch not in self.archs:
            raise CostError(f"convention {self.name!r} is defined for {', '.join(self.archs)}, not {arch!r}")

    def uniform(self, layers: list[LayerInfo], w: int, a: int) -> dict[str, tuple[int, int]]:
        """Bits of a uniform ``W/A`` run under this convention (pinned layers applied)."""
        return uniform_bits(layers, w, a)

    @abstractmethod
    def evaluate(
        self,
        arch: str,
        layers: list[LayerInfo],
        bits: dict[str, tuple[int, int]],
        input_size: int,
        extra: dict[str, Any] | None = None,
    ) -> CostReport:
        """Cost of ``bits`` (layer name -> (w, a)) on the enumerated ``layers``."""


_CONVENTIONS: dict[str, Convention] = {}


def register_convention(conv: Convention) -> Convention:
    if conv.name in _CONVENTIONS:
        raise ValueError(f"cost convention {conv.name!r} registered twice")
    _CONVENTIONS[conv.name] = conv
    return conv


def available_conventions() -> list[str]:
    _load_builtin()
    return sorted(_CONVENTIONS)


def get_convention(name: str) -> Convention:
    _load_builtin()
    if name not in _CONVENTIONS:
        raise CostError(f"unknown cost convention {name!r}; known: {', '.join(sorted(_CONVENTIONS))}")
    return _CONVENTIONS[name]


def _load_builtin() -> None:
    import common.cost.conventions  # noqa: F401  (registers the built-in conventions)
