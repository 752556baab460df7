"""``--bit_cfg`` parsing and its expansion to one weight bit per QuantModule (docs/ompq.md §3.4).

A list has one entry per searchable PTQ entry (ResNet-18: 18, whose block-output entries also set the block's
downsample conv, i.e. the original's duplication of entries 6, 10, 14; MobileNetV2: 53 = one per layer) or one per
quantized layer, or one of the original's block-wise variants (:func:`blockwise_module_bits`):

* 8 entries: entry ``i`` covers two QuantModules, three for ``i`` in {2, 4, 6} (19 modules);
* 20 entries: entries 0, 18 and 19 cover one QuantModule, entry 1 two, every other entry three (53 modules,
  MobileNetV2's stem, block 1, sixteen 3-conv blocks, last 1x1 conv, classifier).

Like the original, the expanded list sets the *first* QuantModules in order and leaves the rest at the bits
they had (``--n_bits_w``, 8 for the first/last layer). The 8-entry layout does not follow ResNet-18's blocks
(it hands entry 3 to ``layer2.0.downsample`` and ``layer2.1.conv1``, and leaves ``layer4.1.conv2`` and the
fc out); it is kept as the original has it, and no shipped config uses it.
"""

from __future__ import annotations

import ast

from torch import nn

from common.layers import enumerate_layers
from common.runtime import UsageError
from ompq.mixed_bit.searchable import searchable_entries


def parse_bit_cfg(text: str) -> list[int] | None:
    """The ``--bit_cfg`` literal (``"None"`` → None); anything but a list of ints in [2, 8] is a UsageError."""
    if text in ("None", "", None):
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise UsageError(f"--bit_cfg must be a Python list of ints, got {text!r}") from exc
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(b, int) and not isinstance(b, bool) for b in value
    ):
        raise UsageError(f"--bit_cfg must be a list of ints, got {text!r}")
    bad = [b for b in value if not 2 <= b <= 8]
    if bad:
        raise UsageError(f"--bit_cfg bits must be in [2, 8] (BRECQ's quantizer range), got {bad[0]}")
    return list(value)


def layer_names(float_model: nn.Module, image_size: int) -> list[str]:
    """``common.layers`` names of the float model's conv/linear layers, in order (= QuantModule order)."""
    return [info.name for info in enumerate_layers(float_model, image_size)]


def blockwise_module_bits(bits: list[int]) -> list[int]:
    """The original's expansion of an 8- or 20-entry list to per-QuantModule bits (module docstring)."""
    if len(bits) == 8:
        return [b for i, b in enumerate(bits) for _ in range(3 if i in (2, 4, 6) else 2)]
    if len(bits) == 20:
        return [b for i, b in enumerate(bits) for _ in range(1 if i in (0, 18, 19) else 2 if i == 1 else 3)]
    raise ValueError(f"block-wise lists have 8 or 20 entries, got {len(bits)}")


def expand_bit_list(bits: list[int], float_model: nn.Module, image_size: int) -> dict[str, int]:
    """Layer name → weight bits for a list with one entry per searchable entry or per layer, or a block-wise
    8/20-entry list (then only the first layers it reaches are in the result, in order)."""
    names = layer_names(float_model, image_size)
    if len(bits) == len(names):
        return dict(zip(names, bits, strict=True))
    entries = searchable_entries(float_model, "PTQ")
    if len(bits) in (8, 20) and len(bits) != len(entries):
        seq = blockwise_module_bits(bits)
        if len(seq) > len(names):
            raise UsageError(
                f"--bit_cfg with {len(bits)} entries sets {len(seq)} layers; this model has {len(names)}"
            )
        return dict(zip(names, seq, strict=False))
    if len(bits) != len(entries):
        raise UsageError(
            f"--bit_cfg has {len(bits)} entries; this model needs {len(entries)} (one per searchable layer) "
            f"or {len(names)} (one per quantized layer)"
        )
    out = {}
    for entry, b in zip(entries, bits, strict=True):
        for name in entry.layers:
            out[name] = b
    return {n: out[n] for n in names}
