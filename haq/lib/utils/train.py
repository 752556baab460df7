"""Training and evaluation loops shared by the search (one short fine-tune per episode), ``finetune.py`` and
``pretrain.py``: top-1/top-5 in percent, SGD steps with an optional hook after each step (the K-means
projection), tqdm progress."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from common.data import share_weighted
from common.runtime import AverageMeter, LossGuard, accuracy, get_world_size, progress


def train_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    after_step: Callable[[], None] | None = None,
    desc: str = "train",
    *,
    guard: LossGuard | None = None,
    epoch: int | None = None,
    across_ranks: bool = False,
) -> dict[str, float]:
    """One epoch in train mode; returns running-average ``loss``, ``top1``, ``top5`` over the epoch.

    Under DDP each rank's loss is weighted by ``W·n_r/N`` (its ``n_r`` of the step's ``N`` images, ``W`` ranks;
    :func:`common.data.share_weight` reads it from the loader's sampler), so DDP's gradient average is the
    gradient of the global batch's mean loss even where the shares differ in size. ``across_ranks``: the
    averages returned cover every rank's images.

    A NaN/inf loss raises :class:`~common.runtime.NonFiniteLossError` at the end of the epoch (where the
    averages are read anyway), naming ``epoch``, the step and ``guard``'s checkpoint; pass the caller's
    ``guard`` for that, else a plain one is used.
    """
    guard = guard if guard is not None else LossGuard()
    criterion = nn.CrossEntropyLoss()
    model.train()
    meters = {k: AverageMeter(k) for k in ("loss", "top1", "top5")}
    for step, (inputs, targets) in enumerate(progress(loader, desc=desc, leave=False)):
        inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        out = model(inputs)
        loss = criterion(out, targets)
        guard.observe(loss, epoch=epoch, step=step)
        optimizer.zero_grad(set_to_none=True)
        share_weighted(loss, loader, step).backward()  # weighted on an uneven DDP split's last step
        optimizer.step()
        if after_step is not None:
            after_step()
        _update(meters, loss, out, targets)
    guard.check()
    return _averages(meters, across_ranks and get_world_size() > 1)


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: Iterable, device: torch.device, desc: str = "eval", across_ranks: bool = False
) -> dict[str, float]:
    """Eval-mode ``loss``, ``top1``, ``top5`` over ``loader``; with ``across_ranks`` over every rank's ``loader``."""
    criterion = nn.CrossEntropyLoss()
    model.eval()
    meters = {k: AverageMeter(k) for k in ("loss", "top1", "top5")}
    for inputs, targets in progress(loader, desc=desc, leave=False):
        inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        out = model(inputs)
        _update(meters, criterion(out, targets), out, targets)
    return _averages(meters, across_ranks and get_world_size() > 1)


def _averages(meters: dict, across_ranks: bool) -> dict[str, float]:
    if across_ranks:
        for m in meters.values():
            m.all_reduce()
    return {k: float(m.avg) for k, m in meters.items()}


def _update(meters: dict, loss: torch.Tensor, out: torch.Tensor, targets: torch.Tensor) -> None:
    k = min(5, out.shape[1])
    top1, top5 = accuracy(out.detach(), targets, topk=(1, k))
    n = targets.shape[0]
    meters["loss"].update(loss.detach(), n)
    meters["top1"].update(top1.reshape(()), n)
    meters["top5"].update(top5.reshape(()), n)
