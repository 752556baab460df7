"""The epoch loop of ``finetune.py`` and ``pretrain.py`` (docs/haq.md sections 2.2, 2.3 and 3.8).

Learning rate per epoch ``e`` (set at its start): ``e < warmup_epoch`` -> ``lr·gamma``; ``cos`` ->
``0.5·lr·(1 + cos(π·e/epochs))``; ``exp`` -> ``lr·gamma^e``; any other ``lr_type`` multiplies the current rate
by ``gamma`` when ``e`` is in ``schedule``. Checkpoints (every epoch, atomically) hold ``epoch``,
``state_dict`` (no ``module.`` prefix), ``acc``, ``best_acc`` and ``optimizer``; the best is copied to
``model_best.pth.tar``. Rows of ``epochs.csv``: lr, train loss/acc, val loss/acc.
"""

from __future__ import annotations

import math
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from common.data import set_loader_epoch
from common.runtime import (
    LossGuard,
    RunLogger,
    autocast_context,
    check_finite,
    gather_rng_states,
    is_main_process,
    progress,
    restore_rng_states,
    save_checkpoint,
    unwrap_model,
)
from common.runtime.distributed import get_rank, get_world_size
from haq.lib.utils.train import evaluate, train_epoch


def epoch_lr(args: Namespace, epoch: int, current: float) -> float:
    """Learning rate of ``epoch`` (module docstring)."""
    if epoch < args.warmup_epoch:
        return args.lr * args.gamma
    if args.lr_type == "cos":
        return 0.5 * args.lr * (1 + math.cos(math.pi * epoch / args.epochs))
    if args.lr_type == "exp":
        return args.lr * args.gamma**epoch
    return current * args.gamma if epoch in args.schedule else current


class _Autocast(nn.Module):
    """Runs the wrapped model under bf16 ``torch.autocast`` (``--half``; apex O1 is gone); quantizer scales stay float32 because
    the QModules compute their scales in float64/float32 explicitly."""

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.model, self.device = model, device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with autocast_context(self.device, True, "bf16"):
            return self.model(x).float()


def fit(
    args: Namespace,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loaders: tuple[DataLoader, DataLoader],
    device: torch.device,
    logger: RunLogger,
    checkpoint_dir: Path,
    start_epoch: int = 0,
    best_acc: float = 0.0,
    after_step: Callable[[], None] | None = None,
    before_epoch: Callable[[int], Callable[[], None] | None] | None = None,
    resume_rng: Any = None,
) -> float:
    """Train ``args.epochs`` epochs from ``start_epoch``; returns the best val top-1.

    ``before_epoch(e)`` may return a new ``after_step`` hook (K-means re-clustering at the last epoch).
    Epoch ``e`` reads the training loader's pass ``e`` (:func:`common.data.set_loader_epoch`), and the
    checkpoints hold every rank's generator states (``rng``, a list in rank order), which ``resume_rng`` (a
    resumed checkpoint's) restores before the first epoch: a resumed run continues exactly as the
    uninterrupted one. ``model`` may be DDP-wrapped; only rank 0 writes the checkpoint.
    """
    train_loader, val_loader = loaders
    # --half with apex's opt level --half_type: O1 = autocast (bf16 here), O0 = plain float32
    half = getattr(args, "half", False) and getattr(args, "half_type", "O1") != "O0"
    runner = _Autocast(model, device) if half else model
    lr = optimizer.param_groups[0]["lr"]
    guard = LossGuard(checkpoint=checkpoint_dir / "checkpoint.pth.tar")
    if resume_rng is not None and not restore_rng_states(resume_rng, get_rank(), get_world_size()):
        logger.warning("the checkpoint's generator states are from another number of processes: not restored")
    for epoch in progress(
        range(start_epoch, args.epochs), desc="epochs", initial=start_epoch, total=args.epochs, lines=True
    ):
        lr = epoch_lr(args, epoch, lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if before_epoch is not None:
            after_step = before_epoch(epoch) or after_step
        set_loader_epoch(train_loader, epoch)
        train = train_epoch(runner, train_loader, optimizer, device, after_step, guard=guard, epoch=epoch)
        val = evaluate(runner, val_loader, device)
        check_finite(val["loss"], epoch=epoch, what="validation loss", checkpoint=guard.checkpoint)
        is_best = val["top1"] > best_acc
        best_acc = max(best_acc, val["top1"])
        logger.log_epoch(
            {"epoch": epoch, "lr": lr, "train_loss": train["loss"], "val_loss": val["loss"],
             "train_acc": train["top1"], "val_acc": val["top1"], "val_top5": val["top5"]},
            step=epoch,
        )  # fmt: skip
        logger.info(
            f"epoch {epoch} lr {lr:.4g} train loss {train['loss']:.4f} acc {train['top1']:.2f} "
            f"val loss {val['loss']:.4f} acc {val['top1']:.2f} top-5 {val['top5']:.2f} best {best_acc:.2f}"
        )
        rng = gather_rng_states()  # a collective under DDP: every rank takes part
        if is_main_process():
            state = {
                "epoch": epoch + 1, "state_dict": unwrap_model(model).state_dict(), "acc": val["top1"],
                "best_acc": best_acc, "optimizer": optimizer.state_dict(), "rng": rng,
            }  # fmt: skip
            save_checkpoint(state, checkpoint_dir / "checkpoint.pth.tar", is_best=is_best)
    return best_acc
