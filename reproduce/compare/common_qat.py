"""The common QAT path: any bit config fine-tuned by HAWQ-V3's integer-only modules and training loop.

It is ``python -m hawq.quant_train --bit-config FILE`` started from the benchmark's float checkpoint with the
shared :class:`~reproduce.compare.method.Recipe`: fix-BN (folded BN, frozen statistics), per-tensor
weights, activation ranges with momentum 0.99, SGD at a constant learning rate, no distillation. Every
method's bit config goes through the same code, so the accuracies differ only by the bits.
"""

from __future__ import annotations

from pathlib import Path

from reproduce.compare.method import Context, FinetuneOutcome


def quant_train_argv(ctx: Context, bitconfig: Path, out: Path) -> list[str]:
    """The ``hawq.quant_train`` command line of the common path."""
    r = ctx.recipe
    argv = [
        "-a", ctx.arch, "--data", ctx.data, "--image-size", str(ctx.image_size),
        "--epochs", "1" if ctx.quick else str(r.epochs), "--lr", str(r.lr), "-b", str(r.batch_size),
        "--wd", str(r.weight_decay), "--seed", str(r.seed), "--resume", str(ctx.float_checkpoint),
        "--bit-config", str(bitconfig), "--act-range-momentum", "0.99", "--fix-BN", "-j", "0",
        "--device", ctx.device, "--save-path", str(out), "-p", "1000",
    ]  # fmt: skip
    if ctx.quick:
        argv += ["--data-percentage", "0.05"]
    return argv


def finetune_common(ctx: Context, bitconfig: Path, out: Path) -> FinetuneOutcome:
    """Fine-tune ``bitconfig`` on the common path; the top-1 is that of the last epoch."""
    from hawq import quant_train

    result = quant_train.main(quant_train_argv(ctx, bitconfig, out))
    return FinetuneOutcome(float(result["val_acc1"]))
