"""Generic cost counters over an enumerated layer list (no paper-specific conventions here).

``bits`` maps a layer name to ``(w, a)``: weight bits and the bits of the layer's input activation.

* size in bits   = sum_l w_l * (weights_l [+ bias_l] [+ bn_l])
* BOPs           = sum_l MACs_l * w_l * a_l
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from common.layers import LayerInfo

Bits = Mapping[str, tuple[int, int]]

MIB = 2**20
MB = 10**6


def layer_param_count(layer: LayerInfo, *, bias: bool = True, bn: bool = False) -> int:
    """Parameters charged to one layer: weights, optionally its bias and its folded BN affine."""
    return layer.weight_params + (layer.bias_params if bias else 0) + (layer.bn_params if bn else 0)


def size_bits(layers: Iterable[LayerInfo], bits: Bits, *, bias: bool = True, bn: bool = False) -> int:
    """sum_l w_l * params_l over ``layers``; a layer missing from ``bits`` is an error."""
    return sum(bits[l.name][0] * layer_param_count(l, bias=bias, bn=bn) for l in layers)


def bops(layers: Iterable[LayerInfo], bits: Bits) -> int:
    """Bit operations sum_l MACs_l * w_l * a_l."""
    return sum(l.macs * bits[l.name][0] * bits[l.name][1] for l in layers)


def total_macs(layers: Iterable[LayerInfo]) -> int:
    return sum(l.macs for l in layers)


def uniform_bits(layers: Iterable[LayerInfo], w: int, a: int) -> dict[str, tuple[int, int]]:
    """Every layer at ``w`` weight bits and ``a`` input-activation bits."""
    return {l.name: (w, a) for l in layers}
