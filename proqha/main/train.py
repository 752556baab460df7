"""``python -m proqha.main.train`` (or ``python proqha/main/train.py``): ProQHA's float and quantized baselines.

``--archtype origin`` trains the float model (PACT replaced by ReLU, float weights); ``--archtype quant`` the
quantized one at ``--k_bits`` (``--pre_k_bits``/``--ratio`` as the original construction), or at the bits of
``--bits_file`` (a bit-config file, a JSON list or a search checkpoint; the original could not train a mixed
configuration). SGD (lr, momentum, weight decay on every parameter), MultiStepLR at 50 % and 75 % of
``--train_epochs``, optional clip (``--clip``, ``--grad_clip``); evaluation every epoch;
``checkpoint/model_best.pt`` when top-1 improves and ``checkpoint/checkpoint.pt`` every epoch (an interrupted
run restarts from it in the same ``--out``); ``bitconfig.json`` with the trained bits; ``final.json`` with the
best and the last epoch's top-1 (``best_top1``, ``last_top1``; the latter null when no epoch ran).

Under ``torchrun`` (DDP) ``--train_batch_size`` is per process: rank ``r`` of ``W`` reads its share of the one
global order, so ``W`` processes with batch ``b`` take the steps one process with ``W*b`` takes; DDP averages
the gradients (the clip then sees the averaged ones), only rank 0 logs and writes. BatchNorm normalises with
each rank's share unless ``--sync-bn``, with which the run equals the one-process run to float precision.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch

from common.bitconfig import write_bitconfig
from common.data import build_loaders, set_loader_epoch
from common.runtime import (
    LossGuard,
    RunLogger,
    check_finite,
    choose_device,
    cleanup_distributed,
    gather_rng_states,
    load_checkpoint,
    require_checkpoint,
    restore_rng_states,
    run_main,
    save_checkpoint,
    seed_everything,
    set_resume_hint,
    wrap_ddp,
)
from common.runtime.ddp_sync import convert_sync_batchnorm
from proqha.bits import get_bits, set_bits
from proqha.checkpoints import load_weights
from proqha.cost import cost_model
from proqha.data import build_data
from proqha.engine import evaluate, train_epoch
from proqha.export import bitconfig_of
from proqha.optim import multistep_lr, set_lr
from proqha.prepare import build_model, join_distributed, load_resume, run_dir
from proqha.utils.options import parse_args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args("proqha/main/train.py", argv)
    info = join_distributed(args)
    if args.seed is not None:
        seed_everything(args.seed)
    device = choose_device(args.device)
    train_ds, val_ds, num_classes = build_data(
        args.dataset, args.data_dir, args.seed, args.train_fraction, args.image_size
    )
    model, layout, bits = build_model(args, num_classes)
    if args.resume:
        load_resume(model, args.resume)
        if args.archtype == "quant" and args.bits_file:
            set_bits(model, bits)
    model.to(device)
    train_loader, val_loader = build_loaders(
        train_ds,
        val_ds,
        args.train_batch_size,
        args.workers,
        distributed=info.distributed,
        seed=args.seed or 0,
        val_batch_size=args.eval_batch_size,
    )
    if args.test_only:
        loss, top1 = evaluate(model, val_loader, device, args.amp)
        print(f"test loss {loss:.4f} top-1 {top1:.2f}")
        return 0
    out = run_dir(args)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay
    )
    start, best, last_top1 = 0, 0.0, None
    last = out / "checkpoint" / "checkpoint.pt"
    if last.is_file():
        saved = require_checkpoint(
            load_checkpoint(last),
            last,
            ("state_dict", "optimizer", "epoch", "best_prec1", "kbits"),
            "--out's",
        )
        load_weights(model, saved["state_dict"])
        set_bits(model, saved["kbits"]) if args.archtype == "quant" else None
        optimizer.load_state_dict(saved["optimizer"])
        start, best = int(saved["epoch"]), float(saved["best_prec1"])
        # nothing below draws from the generators before the loop
        if "rng" in saved and not restore_rng_states(saved["rng"], info.rank, info.world_size):
            print("the checkpoint's generator states are from another number of processes: not restored")
    set_resume_hint(f"--out {out} (the run continues from {last})", last)
    guard = LossGuard(checkpoint=last)
    logger = RunLogger(out, args, wandb=args.wandb)
    logger.info("%s (%s): bits %s", layout.common_arch, args.archtype, get_bits(model))
    clip = args.grad_clip if args.clip else None
    if args.sync_bn:  # in one process too: the same float64 statistics make it the exact reference
        model, _ = convert_sync_batchnorm(model, device)
    trained = wrap_ddp(model, device, info)
    for epoch in range(start, args.train_epochs):
        lr = multistep_lr(args.lr, epoch, args.train_epochs)
        set_lr(optimizer, lr)
        set_loader_epoch(train_loader, epoch)
        train_loss, train_top1 = train_epoch(
            trained,
            train_loader,
            optimizer,
            device,
            clip=clip,
            amp=args.amp,
            guard=guard,
            epoch=epoch,
            log=logger.info,
            print_freq=args.print_freq,
        )
        test_loss, test_top1 = evaluate(model, val_loader, device, args.amp)
        check_finite(test_loss, epoch=epoch, what="test loss", checkpoint=last)
        is_best = test_top1 > best
        best = max(best, test_top1)
        last_top1 = test_top1
        row = {"epoch": epoch, "lr": lr, "train_loss": train_loss, "train_top1": train_top1}
        row.update({"test_loss": test_loss, "test_top1": test_top1, "best_top1": best})
        logger.log_epoch(row)
        logger.info("epoch %d lr %.3g train %.2f test %.2f best %.2f", epoch, lr, train_top1, test_top1, best)
        rng = gather_rng_states()  # a collective under DDP: every rank takes part
        if info.is_main:
            state = {
                "state_dict": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch + 1,
                "test_prec1": test_top1,
                "best_prec1": best,
                "kbits": get_bits(model),
                "rng": rng,
            }
            save_checkpoint(state, last, is_best=is_best, best_name="model_best.pt")
    final_bits = get_bits(model)
    if args.archtype == "quant" and info.is_main:
        cfg = bitconfig_of(
            model, layout, final_bits, num_classes, source="ProQHA train.py", costs=cost_model(model)
        )
        write_bitconfig(cfg, out / "bitconfig.json")
    logger.finalize(
        {
            "arch": layout.common_arch,
            "archtype": args.archtype,
            "kbits": final_bits,
            "best_top1": best,
            "last_top1": last_top1,
        }
    )
    cleanup_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
