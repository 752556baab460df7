"""Per-entry feature maps on one batch (docs/ompq.md §3.1), collected with forward hooks.

The original never calls ``model.eval()``: BatchNorm normalises with the statistics of the batch itself
(``bn_mode='train'``, the default). Its search networks have no other module whose mode matters (no dropout), so
here every module except BatchNorm runs in eval mode: torchvision's ``mobilenet_v2`` keeps a ``Dropout(0.2)``
before the classifier, which in train mode would make the logits entry, and with it the ORM matrix, random.
Running statistics and ``num_batches_tracked`` are left untouched (momentum 0 for the pass, counter restored),
and every module's own train/eval flag is restored afterwards.

For entry i with output O_i (ReLU applied first when ``entry.relu``), the feature is X_i = O_i reshaped to
(N, −1), as float32.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ompq.mixed_bit.searchable import Entry

BN_MODES = ("train", "eval")


def extract_features(
    model: nn.Module, entries: list[Entry], images: torch.Tensor, bn_mode: str = "train"
) -> list[np.ndarray]:
    """Run ``model`` once on ``images`` and return the feature of every entry (N x D_i float32 arrays).

    ``bn_mode='train'``: BatchNorm uses the batch's mean and variance (the original); ``'eval'``: its running
    statistics. Every other module (dropout included) is in eval mode during the pass.
    """
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode must be train or eval, got {bn_mode!r}")
    modules = dict(model.named_modules())
    missing = [e.module for e in entries if e.module not in modules]
    if missing:
        raise ValueError(f"entries name modules that the model lacks: {missing[:5]}")
    captured: dict[int, torch.Tensor] = {}
    handles = []
    for i, entry in enumerate(entries):

        def hook(_m: nn.Module, _inp: tuple, out: torch.Tensor, i: int = i, relu: bool = entry.relu) -> None:
            captured[i] = (torch.relu(out) if relu else out).detach().clone()

        handles.append(modules[entry.module].register_forward_hook(hook))
    modes = [(m, m.training) for m in model.modules()]
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [
        (m, m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in bns
    ]
    model.eval()
    for m in bns:
        m.train(bn_mode == "train")
        m.momentum = 0.0
    try:
        with torch.no_grad():
            model(images)
    finally:
        for h in handles:
            h.remove()
        for m, momentum, tracked in saved:
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)
        for m, training in modes:
            m.training = training
    n = images.shape[0]
    return [captured[i].reshape(n, -1).float().cpu().numpy() for i in range(len(entries))]
