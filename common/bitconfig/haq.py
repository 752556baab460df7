"""HAQ strategy lists <-> bit-config files.

Reads the ``strategy`` lists of HAQ (``rl_quantize.py`` search output, ``finetune.py --strategy``, the README;
docs/haq.md sections 3.4, 6 and 7):

* K-means (model-size search, ``finetune.py --linear_quantization`` off): a list of ints, one weight bit-width per
  quantizable layer. Activations are not quantized, so every layer gets ``a = 32``.
* linear (latency search, ``qmobilenetv2``): a list of ``[w, a]`` pairs, ``a`` = the bits of the layer's input;
  ``-1`` means "not quantized" (the stem's input image) and becomes 32 (and 32 becomes ``-1`` again).

Layer ``i`` of a strategy is HAQ's ``i``-th quantizable module in ``model.modules()`` order; for torchvision's
``resnet50`` (54 layers, HAQ's K-means model) and ``mobilenet_v2`` (53 layers, the layout of HAQ's
``mobilenetv2``/``qmobilenetv2``) that order equals our forward enumeration (checked against the per-layer weight
counts and geometry of haq.md section 4.1 / golden ``haq/cost_golden.json``). Any other registered arch is taken
in our enumeration order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common.bitconfig.file import FLOAT_BITS, BitConfig, BitConfigError, LayerBits, arch_layer_names, validate

NOT_QUANTIZED = -1
"""HAQ's bit-width for "not quantized" (linear strategies)."""


def _bits(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BitConfigError(f"HAQ strategy {where}: expected an int bit-width, got {value!r}")
    return FLOAT_BITS if value == NOT_QUANTIZED else value


def from_haq(
    strategy: Sequence[Any], arch: str, *, source: str = "", num_classes: int | None = None
) -> BitConfig:
    """Convert a HAQ strategy (K-means ints or linear ``[w, a]`` pairs) for ``arch`` into a :class:`BitConfig`.

    The length must equal the number of layers of ``arch``; a bit-width outside [1, 32] (e.g. the 0 an action of
    exactly 0 can produce) is an error naming the layer. ``extra["haq"]["mode"]`` records ``"kmeans"`` or
    ``"linear"``.
    """
    names = arch_layer_names(arch, num_classes)
    strategy = list(strategy)
    if len(strategy) != len(names):
        raise BitConfigError(
            f"HAQ strategy has {len(strategy)} entries but {arch!r} has {len(names)} quantizable layers"
        )
    pairs = [isinstance(s, (list, tuple)) for s in strategy]
    if any(pairs) and not all(pairs):
        raise BitConfigError("HAQ strategy mixes ints (K-means) and [w, a] pairs (linear)")
    linear = bool(strategy) and all(pairs)
    layers = {}
    for i, (name, entry) in enumerate(zip(names, strategy, strict=True)):
        if linear:
            if len(entry) != 2:
                raise BitConfigError(f"HAQ strategy entry {i} ({name}): expected [w, a], got {entry!r}")
            layers[name] = LayerBits(
                w=_bits(entry[0], f"entry {i} ({name})"), a=_bits(entry[1], f"entry {i} ({name})")
            )
        else:
            layers[name] = LayerBits(w=_bits(entry, f"entry {i} ({name})"), a=FLOAT_BITS)
    from common.models import get_spec

    mode = "linear" if linear else "kmeans"
    cfg = BitConfig(
        arch=get_spec(arch).name,
        layers=layers,
        method="haq",
        source=source or f"HAQ {mode} strategy",
        num_classes=num_classes,
        extra={"haq": {"mode": mode}},
    )
    validate(cfg)
    return cfg


def to_haq(cfg: BitConfig, linear: bool | None = None) -> list:
    """Convert a :class:`BitConfig` into a HAQ strategy in our layer order.

    ``linear=False``: K-means list of weight bits (activation bits are not part of a K-means strategy and are
    dropped). ``linear=True``: ``[w, a]`` pairs with 32 written as ``-1``. ``None`` takes the mode recorded in
    ``extra["haq"]`` (K-means if none).
    """
    validate(cfg)
    if linear is None:
        linear = cfg.extra.get("haq", {}).get("mode") == "linear"
    names = arch_layer_names(cfg.arch, cfg.num_classes, cfg.input_size)

    def out(bits: int) -> int:
        return NOT_QUANTIZED if bits == FLOAT_BITS else bits

    if linear:
        return [[out(cfg.layers[n].w), out(cfg.layers[n].a)] for n in names]
    return [cfg.layers[n].w for n in names]
