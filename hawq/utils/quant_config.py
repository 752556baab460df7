"""Applying a bit configuration to a quantized model (``quant_train.py``'s module loop, ``docs/hawq.md`` §2.1, §4.4).

Three sources of per-module bits, all ending in a dict ``module name -> bits`` (the format of HAWQ-V3's
``bit_config.py``):

* a shipped scheme, ``bit_config_dict["bit_config_<arch>_<scheme>"]``, by its original name or a model-zoo alias
  (``size0.5`` -> ``modelsize_0.5``, ``bops0.5`` -> ``bops_0.5``, ``latency0.5`` -> ``latency_0.5``; quirk 3);
* ``uniform8``/``uniform4`` for a model without shipped configurations (``tiny_resnet``), built by the shipped
  rule: input quantizer, first conv, ``quant_act_output`` and the classifier at 8 bits, every quantizer that feeds
  no conv at 16, the rest at the scheme's bits;
* the portable bit-config file (``--bit-config FILE``): each layer's ``w`` goes to its weight module and ``a`` to
  the QuantAct feeding it (the model's ``layer_map``).

:func:`configure_quant_modules` then sets every configured module as the original does: symmetric mode, the bias
bits, per-channel, percentiles, range momentum, fix-BN settings, fixed-point flag, and the bits; a 4-bit QuantAct
switches to the (unsigned) asymmetric mode (``--asymmetric-acts-below N`` extends this to every QuantAct below N
bits; a 3-, 5-, 6- or 7-bit QuantAct is otherwise symmetric and spends one bit on the sign of a ReLU output). The ``'hook'`` tag of some entries is ignored (quirk 1: the original's
hook function does not exist).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from common.bitconfig import BitConfig, BitConfigError, read_bitconfig, validate
from common.runtime import UsageError
from hawq.bit_config import bit_config_dict
from hawq.utils.quantization_utils.quant_modules import QuantAct

REQUANT_BITS = 16
_ALIAS = re.compile(r"^(size|modelsize|bops|latency)_?(0\.\d+)$")


def shipped_schemes(arch: str) -> list[str]:
    """Scheme names shipped for ``arch`` (empty for a model without HAWQ-V3 configurations)."""
    prefix = f"bit_config_{arch}_"
    return [k[len(prefix) :] for k in bit_config_dict if k.startswith(prefix)]


def canonical_scheme(scheme: str) -> str:
    """Original config name for a model-zoo alias (``size0.75`` -> ``modelsize_0.75``); other names unchanged."""
    match = _ALIAS.match(scheme)
    if match is None:
        return scheme
    kind = "modelsize" if match.group(1) in ("size", "modelsize") else match.group(1)
    return f"{kind}_{match.group(2)}"


def _bits_of(entry: int | list | tuple) -> int:
    return int(entry[0]) if isinstance(entry, (list, tuple)) else int(entry)


def uniform_module_bits(model: nn.Module, bits: int) -> dict[str, int]:
    """The shipped ``uniform<b>`` rule applied to any wrapped model (see the module docstring)."""
    layer_map: dict[str, tuple[str, str]] = model.layer_map
    names = list(layer_map)
    first, last = names[0], names[-1]
    out: dict[str, int] = {}
    feeding = {act for _, act in layer_map.values()}
    for name, module in model.named_modules():
        if isinstance(module, QuantAct) and name not in feeding:
            out[name] = REQUANT_BITS
    for layer, (weight, act) in layer_map.items():
        b = 8 if layer in (first, last) else bits
        out[weight] = b
        out[act] = b
    return out


def scheme_module_bits(arch: str, scheme: str, model: nn.Module) -> dict[str, int]:
    """Module bits of ``--quant-scheme``; an unknown scheme is a :class:`UsageError` listing the valid ones."""
    name = canonical_scheme(scheme)
    key = f"bit_config_{arch}_{name}"
    if key in bit_config_dict:
        return {k: _bits_of(v) for k, v in bit_config_dict[key].items()}
    valid = shipped_schemes(arch)
    if not valid and name in ("uniform8", "uniform4"):
        return uniform_module_bits(model, int(name[-1]))
    choices = valid or ["uniform8", "uniform4"]
    raise UsageError(
        f"unknown --quant-scheme {scheme!r} for --arch {arch}; valid: {', '.join(choices)} "
        "(model-zoo aliases such as size0.5, bops0.5 are accepted), or pass --bit-config FILE"
    )


def bitconfig_module_bits(cfg: BitConfig, model: nn.Module, arch_names: tuple[str, ...]) -> dict[str, int]:
    """Module bits of a portable bit config (``w`` -> weight module, ``a`` -> the QuantAct feeding the layer).

    ``arch_names`` are the names the file's ``arch`` may carry (the HAWQ name and our float model's name). Unknown
    or missing layers name themselves (:func:`common.bitconfig.validate`); float (32-bit) layers and two layers
    that share an input quantizer with different ``a`` are errors.
    """
    if cfg.arch not in arch_names:
        raise BitConfigError(f"bit config is for {cfg.arch!r}, the model is {' / '.join(arch_names)}")
    layer_map: dict[str, tuple[str, str]] = model.layer_map
    validate(cfg, list(layer_map))
    out = uniform_module_bits(model, 8)
    act_owner: dict[str, str] = {}
    for layer, (weight, act) in layer_map.items():
        bits = cfg.layers[layer]
        if bits.w > 16 or bits.a > 16:
            raise BitConfigError(
                f"layer {layer!r} has w={bits.w}, a={bits.a}: HAWQ-V3 quantizes every layer to at most 16 bits"
            )
        out[weight] = bits.w
        if act in act_owner and out[act] != bits.a:
            raise BitConfigError(
                f"layers {act_owner[act]!r} and {layer!r} share the input quantizer {act!r} "
                f"but ask for a={out[act]} and a={bits.a}"
            )
        out[act] = bits.a
        act_owner[act] = layer
    return out


def read_module_bits(path: str | Path, model: nn.Module, arch_names: tuple[str, ...]) -> dict[str, int]:
    """:func:`bitconfig_module_bits` of the file at ``path``."""
    return bitconfig_module_bits(read_bitconfig(path), model, arch_names)


@dataclass(frozen=True)
class QuantSettings:
    """The per-module settings ``quant_train.py`` applies with the bits (flag names of §2.1)."""

    bias_bit: int = 32
    channel_wise: bool = True
    act_percentile: float = 0
    act_range_momentum: float = -1
    weight_percentile: float = 0
    fix_BN: bool = False  # noqa: N815 - original flag name
    fix_BN_threshold: int | None = None  # noqa: N815
    checkpoint_iter: int = -1
    fixed_point_quantization: bool = False
    standard_bn: bool = False
    #: activations below this many bits use the unsigned asymmetric range too (0: only 4-bit ones, the original)
    asymmetric_acts_below: int = 0
    #: round ``x / s_in`` before every conv/linear (exact integer sums; off: the original's quirk 21)
    round_folded_input: bool = False
    #: batch mean/variance of the unfolded BN in float64 (off: float32, as the original)
    float64_bn_stats: bool = False


def configure_quant_modules(model: nn.Module, module_bits: dict[str, int], settings: QuantSettings) -> int:
    """Apply ``module_bits`` and ``settings`` to the named modules; returns how many config keys matched.

    ``--bias-bit 0`` disables bias quantization (``bias_bit=None``), which the folded-BN path rejects with a
    clear error instead of the original's crash (quirk 5).
    """
    matched = 0
    bias_bit = settings.bias_bit if settings.bias_bit != 0 else None
    for name, module in model.named_modules():
        if name not in module_bits:
            continue
        matched += 1
        module.quant_mode = "symmetric"
        module.bias_bit = bias_bit
        module.quantize_bias = bias_bit is not None
        module.per_channel = settings.channel_wise
        module.act_percentile = settings.act_percentile
        module.act_range_momentum = settings.act_range_momentum
        module.weight_percentile = settings.weight_percentile
        module.fix_flag = False
        module.fix_BN = settings.fix_BN
        module.fix_BN_threshold = settings.fix_BN_threshold
        module.training_BN_mode = settings.fix_BN
        module.checkpoint_iter_threshold = settings.checkpoint_iter
        module.fixed_point_quantization = settings.fixed_point_quantization
        module.standard_bn = settings.standard_bn
        if hasattr(module, "round_input"):
            module.round_input = settings.round_folded_input
        if hasattr(module, "float64_bn_stats"):
            module.float64_bn_stats = settings.float64_bn_stats
        bits = module_bits[name]
        if hasattr(module, "activation_bit"):
            module.activation_bit = bits
            if bits == 4 or bits < settings.asymmetric_acts_below:
                module.quant_mode = "asymmetric"
        else:
            module.weight_bit = bits
    return matched


def freeze_model(model: nn.Module) -> None:
    """``freeze_model`` (§3.5): freeze every quantizer's range and fold BN (validation and export)."""
    for module in model.modules():
        if hasattr(module, "fix") and module is not model:
            module.fix()


def unfreeze_model(model: nn.Module) -> None:
    """``unfreeze_model``: back to range tracking and the configured BN mode."""
    for module in model.modules():
        if hasattr(module, "unfix") and module is not model:
            module.unfix()


def check_supported_bits(model: nn.Module) -> None:
    """Refuse bit-widths the configured quantizers cannot represent, naming the layer, before anything runs.

    Weights are quantized symmetrically to ``[-(2^(b-1) - 1), 2^(b-1) - 1]``: at ``b = 1`` that range is
    ``{0}`` and the scale ``max|w| / (2^(b-1) - 1)`` divides by zero, so every weight becomes NaN (the original
    trains on regardless). A symmetric activation quantizer has the same limit; an asymmetric (unsigned) one
    works from one bit. ``model`` is a configured quantized model with a ``layer_map``.
    """
    modules = dict(model.named_modules())
    for layer, (weight_name, act_name) in getattr(model, "layer_map", {}).items():
        w = getattr(modules.get(weight_name), "weight_bit", None)
        if w is not None and int(w) < 2:
            raise BitConfigError(
                f"layer {layer!r}: w={w} is below the 2 bits of HAWQ-V3's symmetric weight quantizer "
                "(2^(b-1) - 1 = 0 levels: division by zero)"
            )
        act = modules.get(act_name)
        a = getattr(act, "activation_bit", None)
        if a is not None and int(a) < 2 and getattr(act, "quant_mode", "symmetric") == "symmetric":
            raise BitConfigError(
                f"layer {layer!r}: a={a} is below the 2 bits of a symmetric activation quantizer "
                "(2^(b-1) - 1 = 0 levels: division by zero)"
            )


def set_ddp_sync(model: nn.Module, sync_bn: bool = False, sync_act_range: bool = False) -> tuple[int, int]:
    """``--sync-bn`` / ``--sync-act-range``: batch statistics and activation ranges over the whole DDP batch.

    Sets ``sync_bn`` on every unfolded-BN module (``QuantBnConv2d``) and ``sync_range`` on every ``QuantAct``
    (both no-ops without a process group of more than one rank); returns how many of each were set.
    """
    n_bn = n_act = 0
    for module in model.modules():
        if hasattr(module, "sync_bn"):
            module.sync_bn = bool(sync_bn)
            n_bn += 1
        if isinstance(module, QuantAct):
            module.sync_range = bool(sync_act_range)
            n_act += 1
    return n_bn, n_act
