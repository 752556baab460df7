"""The HMQ stages: statistics pass, search epochs and fine-tune epochs (docs/hmq.md sections 3.5-3.10).

Search step: ``L = CE + gamma * relu((target_w - r) / target_w) ^ gamma_rate`` with r the expected weight
compression; both RAdam optimizers (network weights, HMQ logits) step. Fine-tune step: hard HMQs
(temperature -1), cross-entropy only, the network optimizer alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from common.data import global_batch_size, share_weighted
from common.runtime import (
    AverageMeter,
    LossGuard,
    autocast_context,
    is_dist_initialized,
    progress,
    unwrap_model,
)
from hmq.block import HMQ, HmqControl
from hmq.compression import activation_blocks, compression_penalty, expected_weight_compression

__all__ = [
    "StepConfig",
    "broadcast_activation_thresholds",
    "build_optimizers",
    "evaluate",
    "recalibrate_batchnorm",
    "statistics_pass",
    "train_epoch",
]


@dataclass
class StepConfig:
    """What one training step needs besides the model and the batch."""

    device: torch.device
    amp: str = "none"
    gamma: float = 0.0
    gamma_rate: float = 2.0
    target: float = 1.0
    search: bool = True


def build_optimizers(
    model: nn.Module,
    lr_start: float,
    weight_decay: float,
    lr_activation: float,
    lr_coefficient: float,
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """``(network, hmq)`` RAdam optimizers (betas 0.9/0.999, decoupled weight decay on the network only).

    The HMQ optimizer has two groups: activation logits (``lr_activation``) and weight logits
    (``lr_coefficient``), both without weight decay (section 3.9).
    """
    bare = unwrap_model(model)
    act_logits, weight_logits = [], []
    for m in bare.modules():
        if isinstance(m, HMQ):
            (weight_logits if m.is_weight else act_logits).append(m.search_matrix)
    hmq_ids = {id(p) for p in act_logits + weight_logits}
    net_params = [p for p in bare.parameters() if p.requires_grad and id(p) not in hmq_ids]
    net_opt = torch.optim.RAdam(
        net_params,
        lr=lr_start,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=weight_decay,
        decoupled_weight_decay=True,
    )
    groups = [{"params": act_logits, "lr": lr_activation}, {"params": weight_logits, "lr": lr_coefficient}]
    hmq_opt = torch.optim.RAdam(
        [g for g in groups if g["params"]],
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        decoupled_weight_decay=True,
    )
    return net_opt, hmq_opt


def _count_correct(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=1) == target).sum()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: torch.device,
    amp: str = "none",
    reduce: bool = True,
    desc: str = "eval",
) -> float:
    """Top-1 accuracy in percent with the model in eval mode (hard HMQs).

    ``reduce``: sum the counts over all ranks (each rank evaluating its shard); ``False`` keeps the
    original's per-rank figure (``--legacy_ddp_eval``).
    """
    model.eval()
    counts = torch.zeros(2, dtype=torch.float64, device=device)
    for images, labels in progress(loader, desc=desc, leave=False):
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with autocast_context(device, amp != "none", amp):
            logits = model(images)
        counts[0] += _count_correct(logits, labels)
        counts[1] += labels.numel()
    if reduce and is_dist_initialized():
        dist.all_reduce(counts)
    return float(100.0 * counts[0] / counts[1].clamp_min(1))


def _forward_passes(
    model: nn.Module, loader: Iterable, device: torch.device, max_batches: int | None, amp: str, desc: str
) -> int:
    """Forward the images of ``loader`` (at most ``max_batches`` batches) through ``model``; returns the count."""
    seen = 0
    for images, _ in progress(loader, desc=desc, leave=False):
        if max_batches is not None and seen >= max_batches:
            break
        with autocast_context(device, amp != "none", amp):
            model(images.to(device, non_blocking=True))
        seen += 1
    return seen


@torch.no_grad()
def statistics_pass(
    model: nn.Module,
    loader: Iterable,
    control: HmqControl,
    device: torch.device,
    max_batches: int | None = None,
    amp: str = "none",
) -> int:
    """One pass in eval mode with statistics collection on (section 3.5); returns the batches seen."""
    model.eval()
    control.statistics = True
    control.temperature = 1.0
    try:
        return _forward_passes(model, loader, device, max_batches, amp, "statistics")
    finally:
        control.statistics = False


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module,
    loader: Iterable,
    control: HmqControl,
    device: torch.device,
    max_batches: int | None = None,
    amp: str = "none",
) -> int:
    """Re-estimate every BatchNorm's running statistics under the hard HMQ choices; returns the batches seen.

    Not in the original (an optional repair, off in a faithful run). Eval mode normalises with running
    statistics that BN accumulated (momentum 0.1) while training: in the search stage under the *soft*
    quantizer (expected threshold ``E[T]`` of Gumbel samples), in the fine-tune stage under the hard one.
    When the argmax threshold of a layer is far below ``E[T]`` (e.g. a 2-bit layer at the smallest
    threshold), the stale soft-state variance is many times the hard one and dominates the running value
    until some 50 hard steps have passed; on a short run the eval-mode top-1 collapses while train-mode
    (batch statistics) stays high. Here the statistics are reset and averaged cumulatively
    (``momentum=None``) over the batches of ``loader`` in training mode at temperature -1 (hard choices);
    nothing else changes (no gradients, HMQ statistics off). Momenta and the temperature are restored.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    was_training, tau, stats = model.training, control.temperature, control.statistics
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the pass
    model.train()
    control.temperature, control.statistics = -1.0, False
    try:
        return _forward_passes(model, loader, device, max_batches, amp, "BN recalibration")
    finally:
        for m, mom in zip(bns, momenta, strict=True):
            m.momentum = mom
        control.temperature, control.statistics = tau, stats
        model.train(was_training)


def broadcast_activation_thresholds(model: nn.Module) -> None:
    """Give every rank rank 0's activation thresholds and sizes (fix of quirk 6); no-op when single."""
    if not is_dist_initialized():
        return
    for _, block in activation_blocks(unwrap_model(model)):
        dist.broadcast(block.base_thresholds, src=0)
        dist.broadcast(block.tensor_size, src=0)


def train_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizers: list[torch.optim.Optimizer],
    scaler: torch.amp.GradScaler,
    control: HmqControl,
    cfg: StepConfig,
    temperature: Callable[[int], float] | None = None,
    first_iteration: int = 0,
    desc: str = "train",
    guard: LossGuard | None = None,
    epoch: int | None = None,
) -> dict[str, float]:
    """One epoch; sets the temperature before every step when ``temperature`` is given.

    Returns the mean loss, training accuracy (percent) and the last temperature. A NaN/inf loss raises
    :class:`~common.runtime.NonFiniteLossError` at the end of the epoch (on every rank under DDP), naming
    ``epoch``, the step and ``guard``'s checkpoint.
    """
    guard = guard if guard is not None else LossGuard()
    model.train()
    bare = unwrap_model(model)
    criterion = nn.CrossEntropyLoss()
    loss_meter = AverageMeter()
    correct = torch.zeros((), device=cfg.device)
    total = 0
    tau = control.temperature
    losses = []
    for i, (images, labels) in enumerate(progress(loader, desc=desc, leave=False)):
        if temperature is not None:
            tau = temperature(first_iteration + i)
            control.temperature = tau
        images, labels = images.to(cfg.device, non_blocking=True), labels.to(cfg.device, non_blocking=True)
        control.global_rows = global_batch_size(loader, i)  # set only on an uneven DDP split's last step
        with autocast_context(cfg.device, cfg.amp != "none", cfg.amp):
            logits = model(images)
            loss = criterion(logits.float(), labels)
        control.global_rows = None
        late: list[tuple[torch.Tensor, torch.Tensor]] = []
        if cfg.search and cfg.gamma > 0:
            r = expected_weight_compression(bare)
            penalty = compression_penalty(r, cfg.target, cfg.gamma, cfg.gamma_rate)
            if model is not bare and not tau > 0:
                # DDP on the hard path: the weight search matrices are not in the forward graph, so DDP
                # marks them ready at once; their (rank-identical) penalty gradient is added after backward.
                mats = [m.search_matrix for m in bare.modules() if isinstance(m, HMQ) and m.is_weight]
                late = list(zip(mats, torch.autograd.grad(scaler.scale(penalty), mats), strict=True))
            else:
                loss = loss + penalty
        # weighted on an uneven DDP split's last step
        scaler.scale(share_weighted(loss, loader, i)).backward()
        for param, grad in late:
            param.grad = grad if param.grad is None else param.grad + grad
        if late:
            loss = loss + penalty.detach()
        for opt in optimizers:
            scaler.step(opt)
        scaler.update()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        correct += _count_correct(logits.detach(), labels)
        total += labels.numel()
        losses.append(loss.detach())
        guard.observe(loss, epoch=epoch, step=i)
    guard.check()
    if losses:
        loss_meter.update(float(torch.stack(losses).mean()), len(losses))
    return {
        "loss": loss_meter.avg if losses else float("nan"),
        "train_acc": float(100.0 * correct / max(total, 1)),
        "temperature": float(tau),
    }
