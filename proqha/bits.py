"""Quantizer enumeration and bit assignment (docs/proqha.md section 3.2).

The quantizer list is every PACT and every weight quantizer in ``model.modules()`` order; position i of any
bit list refers to it.

* Construction: with ``ratio < 1`` a ``random.sample(range(N), int(N * ratio))`` of positions gets the listed
  bits and every other position ``pre_k_bits``; with ``ratio >= 1`` the list is used as it is. The sample is
  drawn in both cases (the original always draws it), so the Python random stream is consumed the same way.
* Lowering by ``interval`` (the search): ``b'_i = max(2, b_i - interval)`` for the chosen positions.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from torch import nn

from proqha.quantizers import QUANTIZER_TYPES

MIN_BITS = 2


def quantizers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every quantizer, in ``model.modules()`` order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, QUANTIZER_TYPES)]


def quantizer_names(model: nn.Module) -> list[str]:
    return [n for n, _ in quantizers(model)]


def get_bits(model: nn.Module) -> list[int]:
    """The current bit list."""
    return [m.bits for _, m in quantizers(model)]


def set_bits(model: nn.Module, bits: Sequence[int]) -> None:
    """Give quantizer i the bit-width ``bits[i]``; the length must match."""
    qs = quantizers(model)
    if len(bits) != len(qs):
        raise ValueError(f"bit list has {len(bits)} entries, the model has {len(qs)} quantizers")
    for (_, m), b in zip(qs, bits, strict=True):
        m.bits = int(b)


def initial_bits(
    k_bits: int | Sequence[int],
    n: int,
    pre_k_bits: int = 8,
    ratio: float = 0.5,
    rng: random.Random | None = None,
) -> list[int]:
    """The bit list a model is built with (the original ``quantize_model`` of ``models/tools.py``)."""
    rng = rng if rng is not None else random._inst  # type: ignore[attr-defined]  # the global stream, as the original
    listed = [int(k_bits)] * n if isinstance(k_bits, int) else [int(b) for b in k_bits]
    if len(listed) != n:
        raise ValueError(f"k_bits list has {len(listed)} entries, the model has {n} quantizers")
    chosen = set(rng.sample(range(n), int(n * ratio)))
    if ratio >= 1.0:
        return listed
    return [b if i in chosen else int(pre_k_bits) for i, b in enumerate(listed)]


def lower_bits(bits: Sequence[int], chosen: Iterable[int], interval: int) -> list[int]:
    """``max(2, b_i - interval)`` at the chosen positions, ``b_i`` elsewhere."""
    chosen = set(chosen)
    return [max(MIN_BITS, b - interval) if i in chosen else int(b) for i, b in enumerate(bits)]
