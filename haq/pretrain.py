"""Float pre-training of HAQ's MobileNetV2 (or any registered model) (docs/haq.md section 2.3).

``python -m haq.pretrain -a mobilenetv2 -c checkpoints/mobilenetv2 --epochs 150 --lr 0.05 --wd 0.00004
--train_batch 256 --half`` is the original's ``run_pretrain.sh`` (72.05 / 90.49 top-1/top-5 on ImageNet).
Same flags as ``finetune.py`` without the quantization ones; ``--wd`` defaults to 1e-4; cosine LR.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from common.runtime import (
    RunLogger,
    UsageError,
    apply_local_rank_flag,
    choose_device,
    cleanup_distributed,
    run_main,
    seed_everything,
    set_resume_hint,
    set_threads,
)
from common.runtime.runlog import add_logging_args
from haq.finetune import (
    add_training_args,
    check_training_args,
    join_distributed,
    load_resume_weights,
    make_loaders,
    prepare_ddp,
)
from haq.lib.utils.fit import fit
from haq.lib.utils.train import evaluate
from haq.models import build_haq_model, is_quantized_arch


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m haq.pretrain", description=__doc__.split("\n\n")[0])
    add_training_args(p, 1e-4, "mobilenetv2")
    add_logging_args(p)
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    apply_local_rank_flag(args.local_rank)
    out_dir = check_training_args(args)
    set_threads(args.threads)
    if is_quantized_arch(args.arch):
        raise UsageError(f"pretrain.py trains float models; use {args.arch[1:]!r} instead of {args.arch!r}")
    info = join_distributed(args)
    seed_everything(args.manualSeed)
    device = choose_device(args.device)
    train_loader, val_loader, num_classes = make_loaders(args, args.arch)
    model = build_haq_model(
        args.arch, num_classes, pretrained=(args.weights or True) if args.pretrained else False
    )
    model.to(device)
    ckpt_dir, start_epoch, best_acc, resume_rng = Path(args.checkpoint), args.start_epoch, 0.0, None
    optimizer = torch.optim.SGD(
        model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay
    )
    if args.resume:
        full = load_resume_weights(model, args)
        if not args.evaluate:
            start_epoch, best_acc = full.get("epoch", 0), float(full.get("best_acc", 0.0))
            resume_rng = full.get("rng")
            if full.get("optimizer"):
                optimizer.load_state_dict(full["optimizer"])
            ckpt_dir = Path(args.resume).parent
    trained = prepare_ddp(model, args, device, info)
    if args.evaluate:
        stats = evaluate(model, val_loader, device)
        print(f"Test Loss: {stats['loss']:.4f}, Test Acc: {stats['top1']:.2f} (top-5 {stats['top5']:.2f})")
        return stats
    set_resume_hint(f"--resume {out_dir / 'checkpoint.pth.tar'}", out_dir / "checkpoint.pth.tar")
    with RunLogger(ckpt_dir, args) as logger:
        best = fit(
            args,
            trained,
            optimizer,
            (train_loader, val_loader),
            device,
            logger,
            ckpt_dir,
            start_epoch,
            best_acc,
            resume_rng=resume_rng,
        )
        logger.finalize({"best_acc": best})
    if info.is_main:
        print(f"Best acc: {best}")
    cleanup_distributed()
    return {"best_acc": best}


if __name__ == "__main__":
    run_main(main)
    sys.exit(0)
