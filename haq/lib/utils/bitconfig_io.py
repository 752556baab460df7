"""HAQ strategies <-> the portable bit-config file, in HAQ's layer order (``model.modules()`` order).

For HAQ's own MobileNetV2 layout (``mobilenetv2``/``qmobilenetv2``) layer ``i`` is the ``i``-th layer of the
registered ``mobilenet_v2`` (same order and shapes, other module names); for every other arch the module names
are the registered model's own. A K-means strategy is a list of weight bits (activations stay at 32); a linear
one is a list of ``[w, a]`` with ``a = -1`` for "not quantized" (written as 32). A bit of 0 (an action of
exactly 0 with an odd ``min_bit``) is written as 1; the raw strategy is kept under ``extra["haq"]``.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from common.bitconfig import (
    FLOAT_BITS,
    BitConfig,
    BitConfigError,
    LayerBits,
    arch_layer_names,
    read_bitconfig,
)
from haq.lib.env.embedding import quantizable_modules
from haq.models import HAQ_LAYOUT, base_arch


def layer_names(arch: str, model: nn.Module, types: tuple, num_classes: int) -> tuple[str, list[str]]:
    """Registered arch and layer names of the bit-config file, in HAQ's layer order."""
    reg = base_arch(arch)
    if arch in HAQ_LAYOUT:
        return reg, arch_layer_names(reg, num_classes)
    return reg, [name for name, _ in quantizable_modules(model, types)]


def strategy_to_bitconfig(
    strategy: list, names: list[str], reg_arch: str, num_classes: int, linear: bool, source: str,
    costs: dict | None = None, arch: str = "",
) -> BitConfig:  # fmt: skip
    """A :class:`BitConfig` of ``strategy`` over ``names``."""
    layers = {}
    for name, entry in zip(names, strategy, strict=True):
        if linear:
            w, a = entry
            layers[name] = LayerBits(max(int(w), 1), FLOAT_BITS if int(a) == -1 else max(int(a), 1))
        else:
            layers[name] = LayerBits(max(int(entry), 1), FLOAT_BITS)
    mode = "linear" if linear else "kmeans"
    return BitConfig(
        arch=reg_arch, layers=layers, method="haq", num_classes=num_classes, source=source, costs=costs or {},
        extra={"haq": {"mode": mode, "arch": arch, "strategy": [list(e) if linear else e for e in strategy]}},
    )  # fmt: skip


def strategy_from_bitconfig(path: str | Path, names: list[str], reg_arch: str, linear: bool) -> list:
    """Read a bit-config file and return the strategy in HAQ's order for the layers ``names``."""
    cfg = read_bitconfig(path)
    if cfg.arch != reg_arch:
        raise BitConfigError(f"{path}: bit config is for {cfg.arch!r}, not {reg_arch!r}")
    own = list(cfg.layers)
    if set(own) != set(names):  # HAQ layout: other module names, same order
        if len(own) != len(names):
            raise BitConfigError(f"{path}: {len(own)} layers, the model has {len(names)}")
        lookup = dict(zip(names, own, strict=True))
    else:
        lookup = {n: n for n in names}
    out = []
    for n in names:
        lb = cfg.layers[lookup[n]]
        if linear:
            out.append([lb.w, -1 if lb.a >= FLOAT_BITS else lb.a])
        else:
            out.append(lb.w)
    return out
