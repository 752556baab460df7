"""ProQHA quantizer bit lists <-> bit-config files.

Reads ProQHA's ``kbits`` lists (the ``kbits1..kbitsN`` columns of ``search_log.csv``, the ``k_bits`` list a model
is built with; docs/proqha.md sections 3.2, 4 and 7): one bit-width per quantizer, N = 2 L for the L quantized
convs, in ``model.modules()`` order of the PACT activation quantizers and the weight quantizers.

* ``order="WA"`` - ImageNet ResNet-18 (``OriQuantBasicBlock``, post-activation, torchvision layout; arch
  ``resnet18``) and the same blocks in ``tiny_resnet`` (ProQHA's ``--arch tiny_resnet``): position ``2j`` =
  weight bits of quantized conv ``j`` (``layer1.0.conv1``, ``layer1.0.conv2``, ...), position ``2j+1`` = the
  PACT after conv ``j``, i.e. the input bits of the NEXT quantized conv (for the last conv: of ``fc``). The
  first quantized conv reads the unquantized max-pool output (``a = 32``).
* ``order="AW"`` - the pre-activation models (ImageNet ResNet-34/50/101/152, CIFAR ResNet-20...; arch
  ``resnet50``, ``resnet20``): position ``2j`` = the PACT in front of conv ``j`` (its input bits), ``2j+1`` = its
  weight bits. The fc input is taken as unquantized (``a = 32``): ProQHA quantizes no activation after the last conv.

Layers outside the list are float (``w = 32``): by default the stem (first layer), the downsample convs and the
fc. The stem's input is the image (``a = 32``); a downsample conv reads the same tensor as its block's ``conv1``
(the previous block's output PACT, or the pre-activated block input), so it gets that conv's ``a``.

``extra["proqha"]`` keeps the original list (``kbits``), the ``order`` and the ``quant_layers``, so
:func:`to_proqha` returns exactly the list it was given; any position the layers cannot hold comes from there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from common.bitconfig.file import (
    FLOAT_BITS,
    BitConfig,
    BitConfigError,
    LayerBits,
    arch_layer_names,
    arch_layers,
    name_list,
    validate,
)

ORDERS = ("WA", "AW")
_WA_ARCHS = {"resnet18", "tiny_resnet"}


def _canonical(arch: str) -> str:
    from common.models import get_spec

    try:
        return get_spec(arch).name
    except ValueError as e:
        raise BitConfigError(" ".join(str(e).split())) from e


def default_order(arch: str) -> str:
    """``"WA"`` for ``resnet18`` and ``tiny_resnet`` (post-activation blocks), ``"AW"`` otherwise."""
    return "WA" if _canonical(arch) in _WA_ARCHS else "AW"


def proqha_quant_layers(arch: str) -> list[str]:
    """ProQHA's quantized layers of ``arch``: every conv except the first layer (stem) and the downsample convs."""
    layers = arch_layers(_canonical(arch))
    return [l.name for l in layers[1:] if l.kind != "linear" and ".downsample." not in l.name]


def _setup(arch: str, order: str | None, quant_layers: Sequence[str] | None) -> tuple[str, str, list[str]]:
    arch = _canonical(arch)
    order = order or default_order(arch)
    if order not in ORDERS:
        raise BitConfigError(f"ProQHA order must be one of {', '.join(ORDERS)}, got {order!r}")
    quant = list(quant_layers) if quant_layers is not None else proqha_quant_layers(arch)
    known = set(arch_layer_names(arch))
    unknown = [n for n in quant if n not in known]
    if unknown:
        raise BitConfigError(f"ProQHA quant_layers: unknown layer(s) {name_list(unknown)} of {arch!r}")
    return arch, order, quant


def _consumer_of_last(order: str, names: list[str], quant: list[str]) -> str | None:
    """WA: the layer fed by the PACT after the last quantized conv (the fc), if it is not quantized itself."""
    if order == "WA" and names and names[-1] not in quant:
        return names[-1]
    return None


def from_proqha(
    kbits: Sequence[Any],
    arch: str,
    *,
    order: str | None = None,
    quant_layers: Sequence[str] | None = None,
    source: str = "",
) -> BitConfig:
    """Convert a ProQHA quantizer bit list into a :class:`BitConfig`.

    ``order`` defaults to :func:`default_order`, ``quant_layers`` to :func:`proqha_quant_layers`; the list must
    have ``2 * len(quant_layers)`` entries.
    """
    arch, order, quant = _setup(arch, order, quant_layers)
    kbits = list(kbits)
    if len(kbits) != 2 * len(quant):
        raise BitConfigError(
            f"ProQHA {arch} bit list must have {2 * len(quant)} entries (2 per quantized conv), got {len(kbits)}"
        )
    for i, b in enumerate(kbits):
        if not isinstance(b, int) or isinstance(b, bool):
            raise BitConfigError(f"ProQHA bit list position {i}: expected an int, got {b!r}")
    names = arch_layer_names(arch)
    bits: dict[str, LayerBits] = {}
    for j, name in enumerate(quant):
        if order == "AW":
            bits[name] = LayerBits(w=kbits[2 * j + 1], a=kbits[2 * j])
        else:
            bits[name] = LayerBits(w=kbits[2 * j], a=FLOAT_BITS if j == 0 else kbits[2 * j - 1])
    last_consumer = _consumer_of_last(order, names, quant)
    layers = {}
    for name in names:
        if name in bits:
            layers[name] = bits[name]
            continue
        a = FLOAT_BITS
        m = re.fullmatch(r"(.*)\.downsample\.\d+", name)
        if m and f"{m[1]}.conv1" in bits:
            a = bits[f"{m[1]}.conv1"].a
        elif name == last_consumer:
            a = kbits[-1]
        layers[name] = LayerBits(w=FLOAT_BITS, a=a)
    cfg = BitConfig(
        arch=arch,
        layers=layers,
        method="proqha",
        source=source or f"ProQHA quantizer bit list ({order})",
        extra={"proqha": {"order": order, "quant_layers": quant, "kbits": kbits}},
    )
    validate(cfg)
    return cfg


def to_proqha(
    cfg: BitConfig, *, order: str | None = None, quant_layers: Sequence[str] | None = None
) -> list[int]:
    """Convert a :class:`BitConfig` into a ProQHA quantizer bit list.

    ``order``/``quant_layers`` default to those recorded in ``extra["proqha"]``, else to the arch defaults.
    Positions that no layer holds (WA: the last PACT when nothing float follows it) are taken from the
    recorded ``kbits``, else 32.
    """
    validate(cfg)
    info = cfg.extra.get("proqha", {})
    arch, order, quant = _setup(
        cfg.arch,
        order or info.get("order"),
        quant_layers if quant_layers is not None else info.get("quant_layers"),
    )
    stored = info.get("kbits")
    if not isinstance(stored, list) or len(stored) != 2 * len(quant):
        stored = None
    names = arch_layer_names(arch)
    last_consumer = _consumer_of_last(order, names, quant)
    out: list[int] = []
    for j, name in enumerate(quant):
        lb = cfg.layers[name]
        if order == "AW":
            out += [lb.a, lb.w]
            continue
        if j + 1 < len(quant):
            nxt = cfg.layers[quant[j + 1]].a
        elif last_consumer is not None:
            nxt = cfg.layers[last_consumer].a
        else:
            nxt = stored[2 * j + 1] if stored else FLOAT_BITS
        out += [lb.w, nxt]
    return out
