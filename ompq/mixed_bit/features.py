"""Per-entry feature maps on one batch (spec ompq.md §3.1), collected with forward hooks.

The original never calls ``model.eval()``: BatchNorm normalises with the statistics of the batch itself
(``bn_mode='train'``, the default). Running statistics are left untouched either way (momentum 0 for the pass).
Each feature is flattened per sample to (N, −1) float32.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ompq.mixed_bit.searchable import Entry


def extract_features(
    model: nn.Module, entries: list[Entry], images: torch.Tensor, bn_mode: str = "train"
) -> list[np.ndarray]:
    """Run ``model`` once on ``images`` and return the feature of every entry (N x D_i float32 arrays)."""
    if bn_mode not in ("train", "eval"):
        raise ValueError(f"bn_mode must be train or eval, got {bn_mode!r}")
    modules = dict(model.named_modules())
    captured: dict[int, torch.Tensor] = {}
    handles = []
    for i, entry in enumerate(entries):

        def hook(_m: nn.Module, _inp: tuple, out: torch.Tensor, i: int = i, relu: bool = entry.relu) -> None:
            captured[i] = (torch.relu(out) if relu else out).detach().clone()

        handles.append(modules[entry.module].register_forward_hook(hook))
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m, m.momentum) for m in bns]
    was_training = model.training
    model.train(bn_mode == "train")
    for m in bns:
        m.momentum = 0.0
    try:
        with torch.no_grad():
            model(images)
    finally:
        for h in handles:
            h.remove()
        for m, mom in saved:
            m.momentum = mom
        model.train(was_training)
    n = images.shape[0]
    return [captured[i].reshape(n, -1).float().cpu().numpy() for i in range(len(entries))]
