"""OMPQ searched bit lists <-> bit-config files.

Reads the bit lists of OMPQ (the ``cfg`` printed by ``mixed_bit/feature_extract.py``, the ``--bit_cfg`` lists of
``PTQ/run_scripts``, and the weight bits of the QAT ``bit_config.py`` schemes in searchable-layer order; spec
ompq.md sections 4.1, 4.2, 6.4 and 7). Entry ``k`` of a list is the weight bit-width of the searchable layer ``k``:

* ResNet-18 QAT (16 entries; arch ``resnet18``): entry ``2k`` -> block ``k``'s ``conv1``, entry ``2k+1`` -> its
  ``conv2`` and its ``downsample.0`` (blocks in stage/unit order). The stem ``conv1`` and ``fc`` are fixed at
  8-bit weights with 8-bit inputs (``quant_input``, ``quant_act_output``); every other layer's input gets the
  config's activation bits.
* ResNet-18 PTQ (18 entries): entry 0 = stem ``conv1``, entries 1..16 as QAT, entry 17 = ``fc``.
* ResNet-50 QAT (48 entries; arch ``resnet50`` = torchvision v1.5 = OMPQ's search model, or ``resnet50_v1`` =
  the pytorchcv v1 model its QAT trains, same names): entry ``3k`` -> ``conv1``, ``3k+1`` -> ``conv2``, ``3k+2``
  -> ``conv3`` and ``downsample.0`` of block ``k``; stem and fc fixed at W8A8 as for ResNet-18.
* MobileNetV2 (53 entries; arch ``mobilenet_v2``, PTQ and "QAT"): entry ``k`` = layer ``k`` of torchvision's
  MobileNetV2 (stem; block 1 [dw, project]; each t=6 block [expand, dw, project]; last 1x1 conv; classifier).

Activation bits: QAT configs put ``a_bits`` on every layer input except the W8A8 stem and fc. PTQ (BRECQ) lists
carry weight bits only and run at ``--n_bits_a``; here every layer input, the stem's included, gets ``a_bits``:
this is what OMPQ's own BOPs formula assumes (every searchable layer at the config's activation bits). BRECQ
itself leaves the input image unquantized and keeps the stem's output quantizer at 8 bits; with the shipped
``--n_bits_a 8`` runs that differs from this file only in the stem's input.

``extra["ompq"]`` records ``mode`` and ``a_bits``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from common.bitconfig.file import BitConfig, BitConfigError, LayerBits, arch_layer_names, name_list, validate

FIXED_BITS = 8
"""Weight and input-activation bits of the stem and fc in OMPQ's QAT configs."""
MODES = ("qat", "ptq")
_RESNETS = {"resnet18": {"qat": 16, "ptq": 18}, "resnet50": {"qat": 48}, "resnet50_v1": {"qat": 48}}
_MOBILENETS = {"mobilenet_v2": {"qat": 53, "ptq": 53}}


def _canonical(arch: str) -> str:
    from common.models import get_spec

    try:
        return get_spec(arch).name
    except ValueError:
        return arch


def _check(arch: str, mode: str) -> str:
    arch = _canonical(arch)
    if mode not in MODES:
        raise BitConfigError(f"OMPQ mode must be one of {', '.join(MODES)}, got {mode!r}")
    supported = {**_RESNETS, **_MOBILENETS}
    if arch not in supported or mode not in supported[arch]:
        options = ", ".join(f"{a} {m}" for a, ms in supported.items() for m in ms)
        raise BitConfigError(f"OMPQ bit lists are defined for {options}; not for {arch} {mode}")
    return arch


def ompq_entries(arch: str, mode: str) -> list[list[str]]:
    """Our layer names behind each entry of an OMPQ bit list for ``arch`` in ``mode`` (``"qat"``/``"ptq"``)."""
    arch = _check(arch, mode)
    names = arch_layer_names(arch)
    if arch in _MOBILENETS:
        return [[n] for n in names]
    blocks: dict[str, list[str]] = {}
    for name in names:
        m = re.match(r"(layer\d+\.\d+)\.", name)
        if m:
            blocks.setdefault(m[1], []).append(name)
    entries = []
    for members in blocks.values():
        convs = sorted(
            (n for n in members if re.search(r"\.conv\d+$", n)), key=lambda n: int(n.rsplit("conv", 1)[1])
        )
        downsample = [n for n in members if n not in convs]
        for i, conv in enumerate(convs):
            entries.append([conv, *downsample] if i == len(convs) - 1 else [conv])
    if mode == "ptq":
        entries = [[names[0]], *entries, [names[-1]]]
    return entries


def _fixed_layers(arch: str, mode: str) -> list[str]:
    """QAT ResNets keep the stem and the fc out of the list (W8A8)."""
    if mode == "qat" and arch in _RESNETS:
        names = arch_layer_names(arch)
        return [names[0], names[-1]]
    return []


def from_ompq(bits: Sequence[Any], arch: str, mode: str, a_bits: int, *, source: str = "") -> BitConfig:
    """Convert an OMPQ bit list into a :class:`BitConfig`; ``a_bits`` is the config's activation bit-width.

    A list of the wrong length, or an arch/mode without an OMPQ list layout, is a :class:`BitConfigError`.
    """
    arch = _check(arch, mode)
    entries = ompq_entries(arch, mode)
    bits = list(bits)
    if len(bits) != len(entries):
        raise BitConfigError(
            f"OMPQ {arch} {mode.upper()} bit list must have {len(entries)} entries, got {len(bits)}"
        )
    if not isinstance(a_bits, int) or isinstance(a_bits, bool):
        raise BitConfigError(f"OMPQ a_bits must be an int, got {a_bits!r}")
    layers: dict[str, LayerBits] = {n: LayerBits(FIXED_BITS, FIXED_BITS) for n in _fixed_layers(arch, mode)}
    for entry, w in zip(entries, bits, strict=True):
        for name in entry:
            layers[name] = LayerBits(w=w, a=a_bits)
    order = arch_layer_names(arch)
    cfg = BitConfig(
        arch=arch,
        layers={n: layers[n] for n in order if n in layers},
        method="ompq",
        source=source or f"OMPQ {mode.upper()} bit list (a{a_bits})",
        extra={"ompq": {"mode": mode, "a_bits": a_bits}},
    )
    validate(cfg)
    return cfg


def to_ompq(cfg: BitConfig, mode: str | None = None) -> list[int]:
    """Convert a :class:`BitConfig` into an OMPQ bit list (``mode`` defaults to ``extra["ompq"]["mode"]``).

    Layers that share an entry (a block's last conv and its downsample conv) must have equal weight bits.
    """
    validate(cfg)
    if mode is None:
        mode = cfg.extra.get("ompq", {}).get("mode")
        if mode is None:
            raise BitConfigError(
                "to_ompq needs mode='qat' or 'ptq' (the config records none in extra['ompq'])"
            )
    out = []
    for entry in ompq_entries(cfg.arch, mode):
        ws = {cfg.layers[n].w for n in entry}
        if len(ws) > 1:
            detail = ", ".join(f"{n}={cfg.layers[n].w}" for n in entry)
            raise BitConfigError(
                f"OMPQ entry shared by {name_list(entry)} needs one weight bit-width ({detail})"
            )
        out.append(ws.pop())
    return out


def mobilenet_v2_to_w1(cfg: BitConfig) -> BitConfig:
    """Re-key a ``mobilenet_v2`` config (what OMPQ's search writes) to pytorchcv's ``mobilenetv2_w1`` (what its
    QAT trains, HAWQ-V3's Q-MobileNetV2).

    The two nets have the same layers in the same order, except that pytorchcv's first block keeps a 1x1 conv
    (32 -> 32) before its depthwise conv where torchvision's has none: that conv takes the bits of the block's
    depthwise conv (entry 1 of the 53-entry list). Every other layer maps by position, its kind, channels,
    kernel, stride and groups checked (the classifier is a Linear in one, a 1x1 conv in the other).
    """
    from dataclasses import replace

    from common.layers import enumerate_arch

    if _canonical(cfg.arch) != "mobilenet_v2":
        raise BitConfigError(f"expected a mobilenet_v2 bit config, got one for {cfg.arch!r}")
    validate(cfg)
    src = enumerate_arch("mobilenet_v2", 224)
    dst = enumerate_arch("mobilenetv2_w1", 224)
    if len(dst) != len(src) + 1:
        raise BitConfigError(f"mobilenetv2_w1 has {len(dst)} layers, mobilenet_v2 {len(src)}: cannot re-key")
    pairs = [(dst[0], src[0]), (dst[1], src[1]), *zip(dst[2:], src[1:], strict=True)]

    def signature(layer: Any, last: bool) -> tuple:
        head = (layer.in_channels, layer.out_channels)
        return head if last else (*head, layer.groups, layer.kernel, layer.stride)

    for i, (d, s) in enumerate(pairs[2:], start=2):
        last = i == len(pairs) - 1
        if signature(d, last) != signature(s, last):
            raise BitConfigError(
                f"layer {d.name!r} of mobilenetv2_w1 does not match {s.name!r} of mobilenet_v2"
            )
    layers = {d.name: cfg.layers[s.name] for d, s in pairs}
    out = replace(
        cfg, arch="mobilenetv2_w1", layers=layers, source=f"{cfg.source} (re-keyed to mobilenetv2_w1)"
    )
    validate(out)
    return out


def read_for_arch(path: Any, arch: str) -> BitConfig:
    """Read a bit-config file for a model of ``arch``: a ``mobilenet_v2`` file from OMPQ's search is re-keyed
    for ``mobilenetv2_w1`` (:func:`mobilenet_v2_to_w1`); any other file is returned as it is."""
    from common.bitconfig.file import read_bitconfig

    cfg = read_bitconfig(path)
    if arch == "mobilenetv2_w1" and _canonical(cfg.arch) == "mobilenet_v2":
        return mobilenet_v2_to_w1(cfg)
    return cfg
