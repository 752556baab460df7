"""``--bit_cfg`` parsing and its expansion to one weight bit per QuantModule (docs/ompq.md §3.4).

A list has one entry per searchable PTQ entry (ResNet-18: 18, whose block-output entries also set the block's
downsample conv, i.e. the original's duplication of entries 6, 10, 14; MobileNetV2: 53 = one per layer) or one per
quantized layer. The original's block-wise 8/20-entry variants are not supported.
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


def expand_bit_list(bits: list[int], float_model: nn.Module, image_size: int) -> dict[str, int]:
    """Layer name → weight bits for a list with one entry per searchable entry or per layer."""
    names = layer_names(float_model, image_size)
    if len(bits) == len(names):
        return dict(zip(names, bits, strict=True))
    entries = searchable_entries(float_model, "PTQ")
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
