"""Knowledge distillation loss of ``quant_train.py`` (``--distill-method KD_naive``, ``docs/hawq.md`` §3.8)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def loss_kd(
    output: Tensor,
    target: Tensor,
    teacher_output: Tensor,
    alpha: float = 0.95,
    temperature: float = 6.0,
    reduction: str = "mean",
) -> Tensor:
    """``KL(log_softmax(s/T) ‖ softmax(t/T)) · α·T² + CE(s, y) · (1 − α)``.

    ``reduction='mean'`` is the original (quirk 12): the KL is averaged over the batch *and* the classes, which
    shrinks the KD term by the class count. ``'batchmean'`` is the textbook KL (sum over classes, mean over the
    batch).
    """
    if reduction not in ("mean", "batchmean"):
        raise ValueError(f"reduction must be 'mean' or 'batchmean', got {reduction!r}")
    t = temperature
    kl = F.kl_div(F.log_softmax(output / t, dim=1), F.softmax(teacher_output / t, dim=1), reduction="sum")
    # torch's own 'mean' reduction warns that it will change; the original's value is the elementwise mean
    kl = kl / (output.numel() if reduction == "mean" else output.shape[0])
    return kl * (alpha * t * t) + F.cross_entropy(output, target) * (1.0 - alpha)
