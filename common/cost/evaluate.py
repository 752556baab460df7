"""Top-level cost evaluation: an architecture, bits (uniform or a bit-config file), a convention."""

from __future__ import annotations

from typing import Any

from common.cost.convention import CostError, CostReport, get_convention
from common.layers import LayerInfo, enumerate_arch
from common.models import get_spec


def arch_layers(arch: str, input_size: int | None = None, num_classes: int | None = None) -> list[LayerInfo]:
    """Enumerated layers of ``arch`` (cached by :func:`common.layers.enumerate_arch`)."""
    return enumerate_arch(arch, input_size, num_classes)


def evaluate_cost(
    arch: str,
    convention: str,
    *,
    bits: tuple[int, int] | None = None,
    layer_bits: dict[str, tuple[int, int]] | None = None,
    input_size: int | None = None,
    num_classes: int | None = None,
    extra: dict[str, Any] | None = None,
) -> CostReport:
    """Cost of ``arch`` under ``convention`` for uniform ``bits=(w, a)`` or per-layer ``layer_bits``.

    Uniform bits go through the convention's pinning rules (e.g. HAWQ-V3 keeps the first conv and
    the classifier at W8A8); per-layer bits are used as given.
    """
    if (bits is None) == (layer_bits is None):
        raise CostError("give exactly one of bits=(w, a) or layer_bits")
    conv = get_convention(convention)
    conv.check_arch(arch)
    size = input_size or get_spec(arch).input_size
    layers = arch_layers(arch, size, num_classes)
    if bits is not None:
        w, a = bits
        for v in (w, a):
            if not 1 <= int(v) <= 32:
                raise CostError(f"bits must be within 1..32, got {w}/{a}")
        table = conv.uniform(layers, int(w), int(a))
    else:
        names = {l.name for l in layers}
        unknown = sorted(set(layer_bits) - names)
        missing = [l.name for l in layers if l.name not in layer_bits]
        if unknown or missing:
            raise CostError(
                f"bits do not match {arch}: unknown layers {unknown[:5]}, missing layers {missing[:5]}"
            )
        table = dict(layer_bits)
    return conv.evaluate(arch, layers, table, size, extra)


def evaluate_bitconfig(cfg: Any, convention: str) -> CostReport:
    """Cost of a :class:`common.bitconfig.BitConfig` under ``convention``."""
    layer_bits = {name: (lb.w, lb.a) for name, lb in cfg.layers.items()}
    return evaluate_cost(
        cfg.arch,
        convention,
        layer_bits=layer_bits,
        input_size=cfg.input_size,
        num_classes=cfg.num_classes,
        extra=cfg.extra,
    )
