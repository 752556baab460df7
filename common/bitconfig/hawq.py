"""HAWQ-V3 ``bit_config`` dicts <-> bit-config files.

Reads the format of HAWQ-V3's ``bit_config.py`` (``bit_config_dict["bit_config_<arch>_<scheme>"]``, spec
hawq.md sections 4.3/4.4): a flat dict from the pytorchcv-layout quantized module names of ``q_resnet18`` /
``q_resnet50`` / ``q_resnet101`` / ``q_mobilenetv2_w1`` / ``q_inceptionv3`` to an int bit-width, or to
``(8, 'hook')`` (a list ``[8, "hook"]`` in JSON) for quantizers tagged for feature dumping. OMPQ's QAT
``bit_config.py`` uses the same format.

Weight modules (``quant_*convbn*``, ``quant_output``, MobileNetV2 ``convK``, Inception ``q_convbn``/``q_fc``)
give a layer's ``w``; the ``QuantAct`` whose scale feeds the layer gives its ``a``:

=====================================  ===================================  ==================================
HAWQ weight key                        our layer (torchvision names)        ``a`` from
=====================================  ===================================  ==================================
``quant_init_block_convbn`` (R18),     ``conv1``                            ``quant_input``
``quant_init_convbn`` (R50/R101)
``stage{s}.unit{u}.quant_convbn{k}``   ``layer{s}.{u-1}.conv{k}``           ``stage{s}.unit{u}.quant_act``,
                                                                            ``quant_act1``, ``quant_act2`` (k=1,2,3)
``stage{s}.unit{u}.quant_identity_     ``layer{s}.{u-1}.downsample.0``      ``stage{s}.unit{u}.quant_act``
convbn``
``quant_output``                       ``fc``                               ``quant_act_output``
``init_block`` (MobileNetV2)           ``features.init_block.conv``         ``quant_input``
``features.stage{s}.unit{u}.conv{k}``  ``features.stage{s}.unit{u}.         ``features.stage{s}.unit{u}.quant_act``
                                       conv{k}.conv``                       / ``quant_act1`` / ``quant_act2``
``features.final_block``               ``features.final_block.conv``        ``quant_act_before_final_block``
``output``                             ``output``                           ``quant_act_output``
=====================================  ===================================  ==================================

InceptionV3 (pytorchcv ``q_inceptionv3``) maps onto torchvision's ``inception_v3`` by the table
:data:`INCEPTION_UNITS` / :data:`INCEPTION_BRANCHES` (stem ``q_init_block.q_conv1..5`` = ``Conv2d_1a_3x3`` ..
``Conv2d_4a_3x3``; ``stage1.unit1..3`` = ``Mixed_5b..5d``, ``stage2.unit1`` = ``Mixed_6a``, ``stage2.unit2..5`` =
``Mixed_6b..6e``, ``stage3.unit1`` = ``Mixed_7a``, ``stage3.unit2..3`` = ``Mixed_7b..7c``); a conv's ``a`` comes
from its branch's ``q_input_act`` (first conv), the previous conv's ``q_activ``, or ``q_pool_act`` (avg-pool
branch), the fc's from ``features.q_concat_activ``. Every mapping is checked layer by layer (bits, MACs, weights)
against the dynamically traced per-layer table of the original models (golden ``hawq/costs.json``).

Keys that feed no layer (the 16-bit ``quant_act_int32*`` requantizers, branch outputs, ``q_rescaling_activ``,
and the harmless inner-module keys of some MobileNetV2 configs), the key order and the ``'hook'`` tags are kept
in ``extra["hawq"]`` so that :func:`to_hawq` gives back the original dict exactly (tuples come back as lists).
Without that record :func:`to_hawq` writes the canonical key list with every such key at 16 bits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from common.bitconfig.file import BitConfig, BitConfigError, LayerBits, arch_layer_names, name_list, validate

HAWQ_ARCHS: dict[str, str] = {
    "resnet18": "resnet18",
    "resnet50": "resnet50_v1",
    "resnet101": "resnet101_v1",
    "resnet50b": "resnet50",
    "mobilenetv2_w1": "mobilenetv2_w1",
    "inceptionv3": "inception_v3",
}
"""HAWQ-V3 ``--arch`` name -> our registered model name."""

_FROM_OURS = {ours: hawq for hawq, ours in HAWQ_ARCHS.items()}
REQUANT_BITS = 16
"""Bit-width HAWQ-V3 uses for every quantizer that feeds no conv (residual sums, branch outputs)."""

# torchvision Inception-V3 block -> (stage, unit, block type) of pytorchcv's InceptionV3.
INCEPTION_UNITS: dict[str, tuple[int, int, str]] = {
    "Mixed_5b": (1, 1, "A"),
    "Mixed_5c": (1, 2, "A"),
    "Mixed_5d": (1, 3, "A"),
    "Mixed_6a": (2, 1, "RA"),
    "Mixed_6b": (2, 2, "B"),
    "Mixed_6c": (2, 3, "B"),
    "Mixed_6d": (2, 4, "B"),
    "Mixed_6e": (2, 5, "B"),
    "Mixed_7a": (3, 1, "RB"),
    "Mixed_7b": (3, 2, "C"),
    "Mixed_7c": (3, 3, "C"),
}


def _chain(prefix: str, branch: int, n: int) -> dict[str, tuple[int, str]]:
    return {f"{prefix}_{i}": (branch, f"q_conv_list.q_conv{i}") for i in range(1, n + 1)}


# block type -> torchvision conv attribute -> (pytorchcv branch number, sub-module path in that branch)
INCEPTION_BRANCHES: dict[str, dict[str, tuple[int, str]]] = {
    "A": {
        "branch1x1": (1, "q_conv"),
        **_chain("branch5x5", 2, 2),
        **_chain("branch3x3dbl", 3, 3),
        "branch_pool": (4, "q_conv"),
    },
    "RA": {"branch3x3": (1, "q_conv_list.q_conv1"), **_chain("branch3x3dbl", 2, 3)},
    "B": {
        "branch1x1": (1, "q_conv"),
        **_chain("branch7x7", 2, 3),
        **_chain("branch7x7dbl", 3, 5),
        "branch_pool": (4, "q_conv"),
    },
    "RB": {**_chain("branch3x3", 1, 2), **_chain("branch7x7x3", 2, 4)},
    "C": {
        "branch1x1": (1, "q_conv"),
        "branch3x3_1": (2, "q_conv_list.q_conv1"),
        "branch3x3_2a": (2, "q_conv1x3"),
        "branch3x3_2b": (2, "q_conv3x1"),
        "branch3x3dbl_1": (3, "q_conv_list.q_conv1"),
        "branch3x3dbl_2": (3, "q_conv_list.q_conv2"),
        "branch3x3dbl_3a": (3, "q_conv1x3"),
        "branch3x3dbl_3b": (3, "q_conv3x1"),
        "branch_pool": (4, "q_conv"),
    },
}
# pool-only branches (no conv) of the reduction blocks
_INCEPTION_POOL_ONLY = {"RA": 3, "RB": 3}
_INCEPTION_STEM = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"]
_IQ = "features.q_init_block"


def hawq_arch_name(arch: str) -> str:
    """HAWQ-V3 arch name for ``arch``: a HAWQ name as is, or ``resnet50_v1``/``resnet101_v1``/``inception_v3``.

    Our ``resnet50`` is taken as HAWQ's ``resnet50`` (v1, i.e. our ``resnet50_v1``), since that is the name in
    HAWQ's keys; HAWQ's v1.5 model is ``resnet50b``.
    """
    if arch in HAWQ_ARCHS:
        return arch
    if arch in _FROM_OURS:
        return _FROM_OURS[arch]
    raise BitConfigError(f"unknown HAWQ-V3 arch {arch!r}; known: {', '.join(HAWQ_ARCHS)}")


def parse_hawq_key(key: str) -> tuple[str, str]:
    """``"bit_config_resnet50_modelsize_0.5"`` -> ``("resnet50", "modelsize_0.5")``."""
    if key.startswith("bit_config_"):
        rest = key[len("bit_config_") :]
        for arch in sorted(HAWQ_ARCHS, key=len, reverse=True):
            if rest.startswith(arch + "_"):
                return arch, rest[len(arch) + 1 :]
    raise BitConfigError(f"not a HAWQ-V3 bit_config key: {key!r} (expected bit_config_<arch>_<scheme>)")


# ----------------------------------------------------------------------------------------------------------------
# per-layer keys


def _resnet_keys(hawq_arch: str, name: str) -> tuple[str, str] | None:
    if name == "conv1":
        return ("quant_init_block_convbn" if hawq_arch == "resnet18" else "quant_init_convbn"), "quant_input"
    if name == "fc":
        return "quant_output", "quant_act_output"
    m = re.fullmatch(r"layer(\d+)\.(\d+)\.(?:conv(\d)|(downsample)\.0)", name)
    if not m:
        return None
    unit = f"stage{m[1]}.unit{int(m[2]) + 1}"
    if m[4]:
        return f"{unit}.quant_identity_convbn", f"{unit}.quant_act"
    k = int(m[3])
    return f"{unit}.quant_convbn{k}", f"{unit}.quant_act{'' if k == 1 else k - 1}"


def _mobilenet_keys(name: str) -> tuple[str, str] | None:
    fixed = {
        "features.init_block.conv": ("init_block", "quant_input"),
        "features.final_block.conv": ("features.final_block", "quant_act_before_final_block"),
        "output": ("output", "quant_act_output"),
    }
    if name in fixed:
        return fixed[name]
    m = re.fullmatch(r"(features\.stage\d+\.unit\d+)\.conv(\d)\.conv", name)
    if not m:
        return None
    k = int(m[2])
    return f"{m[1]}.conv{k}", f"{m[1]}.quant_act{'' if k == 1 else k - 1}"


def _inception_conv_lengths(block_type: str) -> dict[int, int]:
    lengths: dict[int, int] = {}
    for branch, sub in INCEPTION_BRANCHES[block_type].values():
        if sub.startswith("q_conv_list."):
            lengths[branch] = max(lengths.get(branch, 0), int(sub.rsplit("q_conv", 1)[1]))
    return lengths


def _inception_keys(name: str) -> tuple[str, str] | None:
    if name == "fc":
        return "output.q_fc", "features.q_concat_activ"
    module = name[: -len(".conv")] if name.endswith(".conv") else None
    if module in _INCEPTION_STEM:
        k = _INCEPTION_STEM.index(module) + 1
        act = f"{_IQ}.q_input_activ" if k == 1 else f"{_IQ}.q_conv{k - 1}.q_activ"
        return f"{_IQ}.q_conv{k}.q_convbn", act
    if module is None or "." not in module:
        return None
    block, attr = module.split(".", 1)
    if block not in INCEPTION_UNITS or attr not in INCEPTION_BRANCHES[INCEPTION_UNITS[block][2]]:
        return None
    stage, unit, block_type = INCEPTION_UNITS[block]
    branch, sub = INCEPTION_BRANCHES[block_type][attr]
    prefix = f"features.stage{stage}.unit{unit}.branches.branch{branch}"
    if sub == "q_conv":
        act = f"{prefix}.q_pool_act" if attr == "branch_pool" else f"{prefix}.q_input_act"
    elif sub.startswith("q_conv_list."):
        i = int(sub.rsplit("q_conv", 1)[1])
        act = f"{prefix}.q_input_act" if i == 1 else f"{prefix}.q_conv_list.q_conv{i - 1}.q_activ"
    else:  # q_conv1x3 / q_conv3x1 both read the last conv of the branch's conv list
        n = _inception_conv_lengths(block_type)[branch]
        act = f"{prefix}.q_conv_list.q_conv{n}.q_activ"
    return f"{prefix}.{sub}.q_convbn", act


def hawq_layer_keys(arch: str) -> dict[str, tuple[str, str]]:
    """Our layer name -> (HAWQ-V3 weight-module key, key of the QuantAct feeding it), in forward order.

    ``arch`` is a HAWQ arch name (see :func:`hawq_arch_name`).
    """
    hawq_arch = hawq_arch_name(arch)
    ours = HAWQ_ARCHS[hawq_arch]
    out: dict[str, tuple[str, str]] = {}
    unmapped = []
    for name in arch_layer_names(ours):
        if hawq_arch == "mobilenetv2_w1":
            keys = _mobilenet_keys(name)
        elif hawq_arch == "inceptionv3":
            keys = _inception_keys(name)
        else:
            keys = _resnet_keys(hawq_arch, name)
        if keys is None:
            unmapped.append(name)
        else:
            out[name] = keys
    if unmapped:
        raise BitConfigError(f"no HAWQ-V3 module for layer(s) {name_list(unmapped)} of {ours!r}")
    return out


def canonical_hawq_keys(arch: str) -> list[str]:
    """Every key of a complete HAWQ-V3 ``bit_config`` for ``arch``, in ``bit_config.py`` order.

    (The shipped MobileNetV2 configs add two inner-module keys of ``stage4.unit5.conv1``; they are not listed.)
    """
    hawq_arch = hawq_arch_name(arch)
    layer_keys = hawq_layer_keys(hawq_arch)
    keys: list[str] = []
    if hawq_arch == "inceptionv3":
        keys.append(f"{_IQ}.q_input_activ")
        for k in range(1, len(_INCEPTION_STEM) + 1):
            keys += [f"{_IQ}.q_conv{k}.q_convbn", f"{_IQ}.q_conv{k}.q_activ"]
        for stage, unit, block_type in INCEPTION_UNITS.values():
            branches: dict[int, list[str]] = {}
            for branch, sub in INCEPTION_BRANCHES[block_type].values():
                branches.setdefault(branch, []).append(sub)
            if block_type in _INCEPTION_POOL_ONLY:
                branches[_INCEPTION_POOL_ONLY[block_type]] = []
            unit_prefix = f"features.stage{stage}.unit{unit}"
            for branch in sorted(branches):
                prefix = f"{unit_prefix}.branches.branch{branch}"
                keys.append(f"{prefix}.q_input_act")
                subs = branches[branch]
                if subs == ["q_conv"] and branch == 4:  # average-pool branch
                    keys += [f"{prefix}.q_conv.q_convbn", f"{prefix}.q_pool_act", f"{prefix}.q_conv.q_activ"]
                    continue
                for sub in subs:
                    keys += [f"{prefix}.{sub}.q_convbn", f"{prefix}.{sub}.q_activ"]
                if "q_conv1x3" in subs:
                    keys.append(f"{prefix}.q_rescaling_activ")
            keys.append(f"{unit_prefix}.q_rescaling_activ")
        keys += ["features.q_concat_activ", "output.q_fc"]
        return keys

    def unit_of(name: str) -> str | None:
        m = re.match(r"(layer\d+\.\d+|features\.stage\d+\.unit\d+)\.", name)
        return m[1] if m else None

    names = list(layer_keys)
    first, last = names[0], names[-1]
    wkey, akey = layer_keys[first]
    keys += [akey, wkey, "quant_act_int32"]
    units: dict[str, list[str]] = {}
    for name in names:
        unit = unit_of(name)
        if unit is not None:
            units.setdefault(unit, []).append(name)
    for members in units.values():
        convs = sorted((n for n in members if "downsample" not in n), key=lambda n: layer_keys[n][0])
        downsample = [n for n in members if "downsample" in n]
        unit_prefix = layer_keys[convs[0]][1].rsplit(".", 1)[0]
        for n in convs:
            wkey, akey = layer_keys[n]
            keys += [akey, wkey]
        keys += [layer_keys[n][0] for n in downsample]
        keys.append(f"{unit_prefix}.quant_act_int32")
    if hawq_arch == "mobilenetv2_w1":
        final = "features.final_block.conv"
        keys += [layer_keys[final][1], layer_keys[final][0], "quant_act_int32_final"]
    wkey, akey = layer_keys[last]
    keys += [akey, wkey]
    return keys


# ----------------------------------------------------------------------------------------------------------------
# conversion


def _untag(key: str, value: Any) -> tuple[int, str | None]:
    if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[1], str):
        bits, tag = value
    else:
        bits, tag = value, None
    if not isinstance(bits, int) or isinstance(bits, bool):
        raise BitConfigError(f"HAWQ-V3 key {key!r}: expected an int or (int, tag), got {value!r}")
    return bits, tag


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def from_hawq(bit_config: Mapping[str, Any], arch: str, source: str = "") -> BitConfig:
    """Convert a HAWQ-V3 ``bit_config`` dict of HAWQ arch ``arch`` (``resnet18``, ``resnet50``, ``resnet101``,
    ``resnet50b``, ``mobilenetv2_w1``, ``inceptionv3``) into a validated :class:`BitConfig`.

    A weight key or a feeding QuantAct key missing from the dict is an error naming the key and the layer.
    """
    hawq_arch = hawq_arch_name(arch)
    layer_keys = hawq_layer_keys(hawq_arch)
    missing = [
        f"{key} (for {name})" for name, keys in layer_keys.items() for key in keys if key not in bit_config
    ]
    if missing:
        raise BitConfigError(f"HAWQ-V3 {hawq_arch} bit_config lacks key(s) {name_list(missing)}")
    parsed = {key: _untag(key, value) for key, value in bit_config.items()}
    layers = {}
    derived: set[str] = set()
    for name, (wkey, akey) in layer_keys.items():
        layers[name] = LayerBits(w=parsed[wkey][0], a=parsed[akey][0])
        derived.update((wkey, akey))
    extra = {
        "arch": hawq_arch,
        "keys": list(bit_config),
        "fixed": {k: _jsonable(v) for k, v in bit_config.items() if k not in derived},
        "tags": {k: parsed[k][1] for k in bit_config if k in derived and parsed[k][1] is not None},
    }
    cfg = BitConfig(
        arch=HAWQ_ARCHS[hawq_arch],
        layers=layers,
        method="hawq",
        source=source or f"HAWQ-V3 bit_config.py ({hawq_arch})",
        extra={"hawq": extra},
    )
    validate(cfg)
    return cfg


def to_hawq(cfg: BitConfig) -> dict[str, Any]:
    """Convert a :class:`BitConfig` back into a HAWQ-V3 ``bit_config`` dict.

    The HAWQ arch comes from ``extra["hawq"]["arch"]`` or from ``cfg.arch`` (our ``resnet50`` -> ``resnet50b``,
    ``resnet50_v1`` -> ``resnet50``, ...). Layers that share one QuantAct in HAWQ-V3 (a block's first conv and its
    downsample conv; Inception's 1x3/3x1 pair) must have equal ``a``, else :class:`BitConfigError`.
    """
    validate(cfg)
    info = cfg.extra.get("hawq", {}) if isinstance(cfg.extra.get("hawq"), Mapping) else {}
    hawq_arch = info.get("arch") or _FROM_OURS.get(cfg.arch)
    if hawq_arch is None or HAWQ_ARCHS.get(hawq_arch) != cfg.arch:
        raise BitConfigError(
            f"arch {cfg.arch!r} has no HAWQ-V3 counterpart; supported: {', '.join(sorted(_FROM_OURS))}"
        )
    values: dict[str, int] = {}
    owner: dict[str, str] = {}
    for name, (wkey, akey) in hawq_layer_keys(hawq_arch).items():
        lb = cfg.layers[name]
        values[wkey] = lb.w
        if akey in values and values[akey] != lb.a:
            raise BitConfigError(
                f"HAWQ-V3 quantizer {akey!r} feeds both {owner[akey]!r} (a={values[akey]}) and {name!r} "
                f"(a={lb.a}); HAWQ-V3 needs one bit-width there"
            )
        values[akey] = lb.a
        owner.setdefault(akey, name)
    keys = list(info.get("keys") or canonical_hawq_keys(hawq_arch))
    keys += [k for k in values if k not in keys]
    fixed = info.get("fixed", {})
    tags = info.get("tags", {})
    out: dict[str, Any] = {}
    for key in keys:
        if key in values:
            out[key] = [values[key], tags[key]] if key in tags else values[key]
        elif key in fixed:
            out[key] = fixed[key]
        else:
            out[key] = REQUANT_BITS
    return out
