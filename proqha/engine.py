"""Training and evaluation loops shared by ``main/train.py`` and the search's fine-tuning (spec sections 3.3-3.4).

One training iteration: forward (optionally under torch.amp autocast), cross-entropy, backward, optional
global gradient-norm clip, optimiser step. Top-1 is averaged over images. No host sync inside the step
except the meter update, which takes the detached tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer

from common.data import share_weighted
from common.runtime import AverageMeter, LossGuard, autocast_context, progress


def _top1_count(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(1) == labels).sum()


def train_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: Optimizer,
    device: torch.device,
    *,
    clip: float | None = None,
    amp: str = "none",
    top1: AverageMeter | None = None,
    desc: str = "train",
    guard: LossGuard | None = None,
    epoch: int | None = None,
    log: Callable[[str], None] | None = None,
    print_freq: int = 0,
) -> tuple[float, float]:
    """One epoch; returns ``(mean loss, top-1 %)``. Pass ``top1`` to keep averaging over several epochs.

    With ``log`` and ``print_freq > 0`` (``--print_freq``), every ``print_freq``-th step (and the last)
    logs one line with the running mean loss and top-1 so far.

    A NaN/inf loss raises :class:`~common.runtime.NonFiniteLossError` at the end of the epoch (where the
    mean is read anyway), naming ``epoch``, the step and ``guard``'s checkpoint.
    """
    guard = guard if guard is not None else LossGuard()
    model.train()
    losses = AverageMeter("loss")
    top1 = top1 if top1 is not None else AverageMeter("top1")
    params = [p for p in model.parameters() if p.requires_grad]
    total = len(loader) if hasattr(loader, "__len__") else 0  # type: ignore[arg-type]
    for step, (images, labels) in enumerate(progress(loader, desc=desc, leave=False)):
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with autocast_context(device, amp != "none", amp):
            logits = model(images)
        loss = F.cross_entropy(logits.float(), labels)
        guard.observe(loss, epoch=epoch, step=step)
        optimizer.zero_grad(set_to_none=True)
        share_weighted(loss, loader, step).backward()  # weighted on an uneven DDP split's last step
        if clip is not None:
            nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        n = labels.shape[0]
        losses.update(loss.detach(), n)
        top1.update(_top1_count(logits.detach(), labels) * (100.0 / n), n)
        if log is not None and print_freq > 0 and (step % print_freq == 0 or step + 1 == total):
            log(
                f"{desc} epoch {epoch if epoch is not None else '-'} step {step + 1}/{total if total else '?'} "
                f"loss {float(losses.avg):.4f} top-1 {float(top1.avg):.2f}"
            )
    guard.check()
    return losses.avg, top1.avg


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: Iterable, device: torch.device, amp: str = "none"
) -> tuple[float, float]:
    """``(mean loss, top-1 %)`` in eval mode over the whole loader."""
    model.eval()
    losses, top1 = AverageMeter("loss"), AverageMeter("top1")
    for images, labels in progress(loader, desc="eval", leave=False):
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with autocast_context(device, amp != "none", amp):
            logits = model(images).float()
        n = labels.shape[0]
        losses.update(F.cross_entropy(logits, labels), n)
        top1.update(_top1_count(logits, labels) * (100.0 / n), n)
    return losses.avg, top1.avg
