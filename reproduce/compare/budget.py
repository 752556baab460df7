"""The one budget and the one cost model of the cross-method benchmark.

Every method is measured the same way, over every conv and linear layer of the model (``common.layers``):

* average weight bits  = sum_l w_l n_l / sum_l n_l  (n_l: weight parameters; a float layer counts 32);
* model size (kB)      = sum_l w_l n_l / 8 / 1000;
* BOPs                 = sum_l MACs_l w_l a_l  (a_l: bits of the layer's input activation).

The budget is stated as the cost of a uniform model: ``Budget(wbits=4.5, abits=4.5)`` allows the average
weight bits and the BOPs of a model whose searched layers all sit at W4.5/A4.5 while the first conv and the
last linear layer are pinned at W8A8 (HAWQ-V3's rule, applied to every method here). A method that can only
express one of the two limits is given its own and measured on both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from common.cost.counters import bops
from common.layers import LayerInfo, enumerate_arch

#: the bits of the pinned first and last layers, weights and input activations
PINNED_BITS = 8


def pinned_layers(layers: list[LayerInfo]) -> tuple[str, str]:
    """The first conv and the last linear layer in forward order."""
    return layers[0].name, layers[-1].name


@dataclass(frozen=True)
class Measured:
    """The benchmark's cost figures of one bit assignment."""

    avg_wbits: float
    size_kb: float
    gbops: float

    def as_dict(self) -> dict[str, float]:
        return {"avg_wbits": self.avg_wbits, "size_kB": self.size_kb, "GBOPs": self.gbops}


def measure(layers: list[LayerInfo], bits: Mapping[str, tuple[int | float, int | float]]) -> Measured:
    """Average weight bits, size and BOPs of ``bits`` (layer name -> (w, a)); every layer must be present."""
    missing = [l.name for l in layers if l.name not in bits]
    if missing:
        raise ValueError(f"no bits for layer(s) {', '.join(missing)}")
    weight_bits = sum(bits[l.name][0] * l.weight_params for l in layers)
    n = sum(l.weight_params for l in layers)
    return Measured(weight_bits / n, weight_bits / 8 / 1000, bops(layers, bits) / 1e9)


@dataclass(frozen=True)
class Budget:
    """The uniform model whose costs are the limits: searched layers at ``wbits``/``abits``, pinned at 8/8."""

    wbits: float = 4.5
    abits: float = 4.5

    def reference_bits(self, layers: list[LayerInfo]) -> dict[str, tuple[float, float]]:
        first, last = pinned_layers(layers)
        return {
            l.name: (PINNED_BITS, PINNED_BITS) if l.name in (first, last) else (self.wbits, self.abits)
            for l in layers
        }

    def limits(self, layers: list[LayerInfo]) -> Measured:
        """The allowed average weight bits, size and BOPs."""
        return measure(layers, self.reference_bits(layers))

    def remaining(self, layers: list[LayerInfo], fixed: Mapping[str, tuple[int, int]]) -> tuple[float, float]:
        """(weight bits, BOPs) left for the layers not in ``fixed`` once the ``fixed`` layers are paid.

        The weight bits are sum w_l n_l in bits (the size limit times 8000), the BOPs in operations; a method
        that searches a subset of layers compares its subset's cost with these.
        """
        lim = self.limits(layers)
        fixed_w = sum(fixed[l.name][0] * l.weight_params for l in layers if l.name in fixed)
        fixed_ops = sum(l.macs * fixed[l.name][0] * fixed[l.name][1] for l in layers if l.name in fixed)
        return lim.size_kb * 8000 - fixed_w, lim.gbops * 1e9 - fixed_ops

    def describe(self) -> str:
        return f"the costs of W{self.wbits:g}A{self.abits:g} with the first and last layer at W8A8"


def within(measured: Measured, limits: Measured, rel: float = 1e-9) -> dict[str, bool]:
    """Whether each limit is met (a relative slack of ``rel`` for float rounding)."""
    return {
        "avg_wbits": measured.avg_wbits <= limits.avg_wbits * (1 + rel),
        "GBOPs": measured.gbops <= limits.gbops * (1 + rel),
    }


def bench_layers(arch: str, image_size: int, num_classes: int) -> list[LayerInfo]:
    """The enumerated layers the benchmark counts."""
    return enumerate_arch(arch, image_size, num_classes)
