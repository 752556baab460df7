"""Quantizable-layer index and the static state embedding of HAQ (docs/haq.md sections 3.1 and 3.2).

Layer ``i`` is the ``i``-th module of ``model.modules()`` whose exact type is one of the quantizable types
(subclasses do not count). Each layer gets the raw feature row

``[is_depthwise, c_in, c_out, stride, kernel, #weights, in_H·in_W, i, bit_slot(, flag_slot)]``

(a linear layer has stride 0, kernel 1 and ``in_features·1`` as its "feature map"); every column is then
min-max normalised over the layers, ``(x - min)/(max - min)``, when ``max > min`` and left alone otherwise.
The K-means environment has 9 columns with a bit slot of 4.0; the linear one has 10 with both slots at 1.0.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def quantizable_modules(model: nn.Module, types: Sequence[type]) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every module whose exact type is in ``types``, in ``model.modules()`` order."""
    wanted = tuple(types)
    return [(name, m) for name, m in model.named_modules() if type(m) in wanted]


def _input_areas(model: nn.Module, types: Sequence[type], input_size: int) -> dict[str, int]:
    """Input H·W of each quantizable layer (``in_features`` for a linear layer) on a zero image."""
    probe = copy.deepcopy(model).cpu().float()
    areas: dict[str, int] = {}
    handles = []
    for name, m in quantizable_modules(probe, types):

        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor, name: str = name) -> None:
            x = inputs[0]
            areas.setdefault(name, int(x.shape[2] * x.shape[3]) if x.dim() == 4 else int(x.shape[1]))

        handles.append(m.register_forward_hook(hook))
    try:
        probe.eval()
        with torch.no_grad():
            probe(torch.zeros(1, 3, input_size, input_size))
    finally:
        for h in handles:
            h.remove()
    return areas


def raw_features(
    model: nn.Module, types: Sequence[type], input_size: int, bit_slot: float, flag_slot: float | None
) -> np.ndarray:
    """The un-normalised feature matrix (one row per quantizable layer)."""
    areas = _input_areas(model, types, input_size)
    rows = []
    for i, (name, m) in enumerate(quantizable_modules(model, types)):
        if hasattr(m, "in_channels"):
            row = [
                float(m.in_channels == m.groups),
                m.in_channels,
                m.out_channels,
                m.stride[0],
                m.kernel_size[0],
                m.weight.numel(),
            ]
        else:
            row = [0.0, m.in_features, m.out_features, 0.0, 1.0, m.weight.numel()]
        row += [areas[name], i, bit_slot]
        if flag_slot is not None:
            row.append(flag_slot)
        rows.append(row)
    return np.asarray(rows, dtype=np.float64)


def normalise_columns(features: np.ndarray) -> np.ndarray:
    """Min-max normalise every column whose max exceeds its min; others are copied unchanged."""
    out = features.astype(np.float64, copy=True)
    lo, hi = out.min(axis=0), out.max(axis=0)
    spread = hi - lo
    varying = spread > 0
    out[:, varying] = (out[:, varying] - lo[varying]) / spread[varying]
    return out


def state_embedding(model: nn.Module, types: Sequence[type], input_size: int, linear: bool) -> np.ndarray:
    """The normalised state matrix of section 3.2 (9 columns for K-means, 10 for linear)."""
    if linear:
        feats = raw_features(model, types, input_size, bit_slot=1.0, flag_slot=1.0)
    else:
        feats = raw_features(model, types, input_size, bit_slot=4.0, flag_slot=None)
    return normalise_columns(feats)
