"""The float baseline on the embedded ``digits`` data: the reference every method issue starts from.

``python -m reproduce.baseline_digits --arch tiny_resnet --epochs 15`` trains with SGD + cosine
schedule through the same data pipeline and runtime helpers as the paper entrypoints, writes
``args.json``, ``epochs.csv``, ``final.json`` and a resumable ``checkpoint.pth.tar`` under ``--out``,
and runs under ``torchrun`` unchanged (DDP, gloo on CPU).

Under DDP ``--batch-size`` is per process, every rank takes its share of one global order (``W``
processes with batch ``b`` step through the batches one process with batch ``W*b`` takes) and the
gradients are averaged; BatchNorm normalises with each rank's share of the batch unless ``--sync-bn``
(statistics of the whole global batch: then a DDP run equals the one-process run with batch ``W*b``
to float precision). A checkpoint also holds every rank's generator states, so ``--resume`` continues
exactly as the uninterrupted run.

The finished run also writes ``weights.pth``: the trained float weights alone (a plain state dict),
the file every method's quick-start starts from (HAQ ``--pretrained``, HMQ ``--pretrained``, HAWQ and
OMPQ QAT ``--resume``, OMPQ PTQ ``--weights``). With ``--reuse`` a folder that already holds a
finished run with the same settings (``args.json`` equal on every setting that changes the weights,
and ``weights.pth`` present) is not trained again: its ``final.json`` is printed and returned, so
``python -m reproduce.baseline_digits --arch tiny_resnet --out runs/baseline_digits/tiny_resnet --reuse``
is the one shared cache of the float baseline.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from common.data import build_datasets, build_loaders, set_loader_epoch, share_weighted
from common.models import build_model
from common.runtime import (
    AverageMeter,
    LossGuard,
    RunLogger,
    accuracy,
    add_common_args,
    add_sync_bn_arg,
    autocast_context,
    check_at_least,
    check_finite,
    check_output_dir,
    check_positive,
    check_state_dict_fits,
    choose_device,
    cleanup_distributed,
    find_resume,
    gather_rng_states,
    init_distributed,
    load_checkpoint,
    progress,
    require_checkpoint,
    restore_rng_states,
    run_main,
    save_checkpoint,
    seed_everything,
    set_resume_hint,
    set_threads,
    unwrap_model,
    wrap_ddp,
)
from common.runtime.ddp_sync import convert_sync_batchnorm
from common.runtime.runlog import add_logging_args


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reproduce.baseline_digits", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--data", default="digits", help="digits, synthetic or a dataset folder")
    p.add_argument("--arch", default="tiny_resnet", help="registered model name")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=64, help="per process")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--resume", default="", help="checkpoint file or run folder to continue from")
    add_sync_bn_arg(p, underscore=False, note="DDP: ")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="a finished run with the same settings in --out is reused (cache), not trained again",
    )
    add_common_args(p, out_default=Path("runs/baseline_digits"))
    add_logging_args(p)
    return p


#: The settings that change the trained weights: a cached run is reused only when all of them agree.
CACHE_KEYS = (
    "data",
    "arch",
    "image_size",
    "epochs",
    "batch_size",
    "lr",
    "momentum",
    "weight_decay",
    "sync_bn",
    "seed",
    "amp",
)

#: The trained float weights alone (a plain state dict), written at the end of a finished run.
WEIGHTS_NAME = "weights.pth"


def cached_result(args: argparse.Namespace) -> dict | None:
    """``final.json`` of a finished run in ``--out`` whose ``args.json`` matches on :data:`CACHE_KEYS`."""
    out = Path(args.out)
    files = [out / "args.json", out / "final.json", out / WEIGHTS_NAME]
    if not all(f.is_file() for f in files):
        return None
    try:
        saved = json.loads(files[0].read_text())
        final = json.loads(files[1].read_text())
    except (OSError, ValueError):
        return None
    mine = vars(args)
    if any(saved.get(key) != mine.get(key) for key in CACHE_KEYS):
        return None
    return final


def check_args(args: argparse.Namespace) -> None:
    """Bad flags as one-line errors before anything is written (Contract 6)."""
    check_at_least("--epochs", args.epochs, 1)
    check_at_least("--batch-size", args.batch_size, 1)
    check_at_least("--workers", args.workers, 0)
    check_at_least("--image-size", args.image_size, 8)
    check_positive("--lr", args.lr)
    check_at_least("--momentum", args.momentum, 0)
    check_at_least("--weight-decay", args.weight_decay, 0)
    check_output_dir("--out", args.out)


#: What ``checkpoint.pth.tar`` must hold for ``--resume``.
RESUME_KEYS = ("epoch", "state_dict", "optimizer", "scheduler", "best_acc1")


def evaluate(model: nn.Module, loader, device: torch.device, amp: str) -> tuple[float, float]:
    """Mean cross-entropy and top-1 (%) over ``loader``."""
    model.eval()
    loss_m, top1 = AverageMeter("loss"), AverageMeter("top1")
    criterion = nn.CrossEntropyLoss()
    with torch.no_grad():
        for images, target in loader:
            images, target = images.to(device), target.to(device)
            with autocast_context(device, amp != "none", amp):
                out = model(images)
            loss_m.update(criterion(out.float(), target), images.size(0))
            top1.update(accuracy(out, target, topk=(1,))[0], images.size(0))
    return float(loss_m.avg), float(top1.avg)


def main(argv: Sequence[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    check_args(args)
    if args.reuse:
        cached = cached_result(args)
        if cached is not None:
            print(
                f"reusing the float baseline in {args.out} ({args.arch}, {cached.get('epochs')} epochs, "
                f"val top-1 {cached.get('val_acc1', float('nan')):.2f} %): {Path(args.out) / WEIGHTS_NAME}",
                flush=True,
            )
            return cached
    set_threads(args.threads)
    dist = init_distributed()
    device = choose_device(args.device)
    seed_everything(args.seed, dist.rank)
    train_ds, val_ds, classes = build_datasets(args.data, preset="digits", image_size=args.image_size)
    train_loader, val_loader = build_loaders(
        train_ds, val_ds, args.batch_size, args.workers, distributed=dist.distributed, seed=args.seed
    )
    model = build_model(args.arch, num_classes=classes)
    if args.sync_bn:
        model, _ = convert_sync_batchnorm(model, device)
    model = wrap_ddp(model, device, dist)
    optimizer = torch.optim.SGD(
        model.parameters(), args.lr, momentum=args.momentum, weight_decay=args.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * len(train_loader))
    start_epoch, best, rng_note = 0, 0.0, ""
    resume = find_resume(args.resume, exclude=("model_best.pth.tar", WEIGHTS_NAME)) if args.resume else None
    if resume is not None:
        state = require_checkpoint(load_checkpoint(resume), resume, RESUME_KEYS)
        check_state_dict_fits(unwrap_model(model), state["state_dict"], f"--resume {resume}")
        unwrap_model(model).load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best = state["epoch"], state["best_acc1"]
        if "rng" in state and not restore_rng_states(state["rng"], dist.rank, dist.world_size):
            rng_note = "the checkpoint's generator states are from another number of processes: not restored"
    logger = RunLogger(args.out, args)
    if rng_note:
        logger.warning(rng_note)
    logger.info(
        "training %s on %s (%d classes) for %d epochs on %s",
        args.arch,
        args.data,
        classes,
        args.epochs,
        device,
    )
    criterion = nn.CrossEntropyLoss()
    started = time.perf_counter()
    last = Path(args.out) / "checkpoint.pth.tar"
    set_resume_hint(f"--resume {last}", last)
    guard = LossGuard(checkpoint=last)
    for epoch in range(start_epoch, args.epochs):
        model.train()
        set_loader_epoch(train_loader, epoch)
        loss_m = AverageMeter("loss")
        for step, (images, target) in enumerate(
            progress(train_loader, desc=f"epoch {epoch + 1}/{args.epochs}")
        ):
            images, target = images.to(device), target.to(device)
            with autocast_context(device, args.amp != "none", args.amp):
                loss = criterion(model(images).float(), target)
            optimizer.zero_grad(set_to_none=True)
            share_weighted(loss, train_loader, step).backward()  # weighted on an uneven DDP split's last step
            optimizer.step()
            scheduler.step()
            loss_m.update(loss.detach(), images.size(0))
            guard.observe(loss, epoch=epoch, step=step)
        guard.check()  # once per epoch, before anything of it is saved
        val_loss, acc1 = evaluate(model, val_loader, device, args.amp)
        check_finite(val_loss, epoch=epoch, what="validation loss", checkpoint=last)
        best = max(best, acc1)
        row = {"epoch": epoch + 1, "train_loss": float(loss_m.avg), "val_loss": val_loss, "val_acc1": acc1}
        logger.log_epoch(row, step=epoch + 1)
        logger.info(
            "epoch %d: train loss %.4f, val loss %.4f, val top-1 %.2f%%", epoch + 1, *list(row.values())[1:]
        )
        rng = gather_rng_states()  # a collective: every rank takes part
        if dist.is_main:
            state = {
                "epoch": epoch + 1,
                "arch": args.arch,
                "state_dict": unwrap_model(model).state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "acc1": acc1,
                "best_acc1": best,
                "rng": rng,
            }
            save_checkpoint(state, Path(args.out) / "checkpoint.pth.tar", is_best=acc1 >= best)
    _, final_acc = evaluate(model, val_loader, device, args.amp)
    if dist.is_main:
        save_checkpoint(unwrap_model(model).state_dict(), Path(args.out) / WEIGHTS_NAME)
    result = {
        "arch": args.arch,
        "data": args.data,
        "epochs": args.epochs,
        "val_acc1": final_acc,
        "best_acc1": max(best, final_acc),
        "train_time_s": time.perf_counter() - started,
    }
    logger.finalize(result)
    logger.close()
    cleanup_distributed()
    return result


if __name__ == "__main__":
    run_main(main)
