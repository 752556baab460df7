"""The common QAT path: any bit config fine-tuned by HAWQ-V3's integer-only modules and training loop.

It is ``python -m hawq.quant_train --bit-config FILE`` started from the benchmark's float checkpoint with the
shared :class:`~reproduce.compare.method.Recipe`: fix-BN (folded BN, frozen statistics), per-channel
weights, activation ranges with momentum 0.99, SGD at a constant learning rate, no distillation. By default
(``Context.common_acts == "unsigned"``) every activation below 8 bits uses the unsigned asymmetric range
(``--asymmetric-acts-below 8``): HAWQ-V3's own rule does so only at 4 bits, which would cost the methods that
choose 3, 5, 6 or 7 bits one bit of every ReLU output; ``"hawq"`` keeps the original rule. Every
method's bit config goes through the same code, so the accuracies differ only by the bits.

In HAWQ-V3's ResNets a block's ``conv1`` and its ``downsample`` conv read the block input through one activation
quantizer. A method that gives them different input bits (HAQ, OMPQ and ProQHA search them apart) cannot be
trained there as it is: :func:`share_input_bits` raises the shared quantizer to the larger of the two, the
fine-tuned file is written next to the run (``bit_config_common.json``) and its BOPs are reported with it.
Likewise a weight below 2 bits (HMQ may choose 1) is trained at 2 bits: HAWQ-V3's symmetric quantizer has no
positive level at 1 bit.
"""

from __future__ import annotations

import json
from pathlib import Path

from common.bitconfig import BitConfig, LayerBits, read_bitconfig, write_bitconfig
from reproduce.compare.budget import measure
from reproduce.compare.launch import amp_flags, distributed, run_step
from reproduce.compare.method import Context, FinetuneOutcome


def shared_input_groups(arch: str, num_classes: int) -> list[list[str]]:
    """Groups of layers (two or more) whose inputs go through one activation quantizer of HAWQ-V3's model."""
    from hawq.utils.models import build_quantized_model

    layer_map = build_quantized_model(arch, num_classes=num_classes).layer_map
    groups: dict[str, list[str]] = {}
    for layer, (_, act) in layer_map.items():
        groups.setdefault(act, []).append(layer)
    return [g for g in groups.values() if len(g) > 1]


def share_input_bits(cfg: BitConfig, groups: list[list[str]]) -> tuple[BitConfig, list[str]]:
    """``cfg`` with every group's input bits set to the group's largest ``a``; a note per raised group."""
    layers = dict(cfg.layers)
    notes = []
    for group in groups:
        asked = [layers[name].a for name in group]
        top = max(asked)
        if min(asked) != top:
            for name in group:
                layers[name] = LayerBits(layers[name].w, top, dict(layers[name].extra))
            notes.append(f"{' / '.join(group)} share one input quantizer: a={top} (asked {asked})")
    return BitConfig(
        cfg.arch, layers, cfg.method, cfg.source, cfg.num_classes, cfg.input_size, {}, cfg.extra
    ), notes


#: HAWQ-V3's symmetric weight quantizer has 2^(b-1) - 1 positive levels: none at 1 bit
MIN_WEIGHT_BITS = 2


def raise_weight_bits(cfg: BitConfig, minimum: int = MIN_WEIGHT_BITS) -> tuple[BitConfig, list[str]]:
    """``cfg`` with every weight below ``minimum`` bits raised to it; a note naming the raised layers.

    HMQ may choose 1-bit weights, which HAWQ-V3's symmetric quantizer cannot represent (its scale divides by
    2^(b-1) - 1 = 0); the common path trains them at 2 bits and says so.
    """
    low = sorted(name for name, lb in cfg.layers.items() if lb.w < minimum)
    if not low:
        return cfg, []
    layers = {name: LayerBits(max(lb.w, minimum), lb.a, dict(lb.extra)) for name, lb in cfg.layers.items()}
    raised = BitConfig(
        cfg.arch, layers, cfg.method, cfg.source, cfg.num_classes, cfg.input_size, {}, cfg.extra
    )
    return raised, [
        f"{', '.join(low)}: w<{minimum} trained at w={minimum} (HAWQ-V3's quantizer needs 2 bits)"
    ]


def common_qat_unsupported(arch: str) -> str | None:
    """Why the common path cannot train ``arch`` (HAWQ-V3's quantized model zoo lacks it), or None."""
    from hawq.utils.models import build_quantized_model

    try:
        build_quantized_model(arch, num_classes=10)
    except (Exception, SystemExit) as e:
        return f"the common QAT path (HAWQ-V3's modules) has no {arch}: {' '.join(str(e).split())[:120]}"
    return None


def quant_train_argv(ctx: Context, bitconfig: Path, out: Path) -> list[str]:
    """The ``hawq.quant_train`` command line of the common path."""
    r = ctx.recipe
    argv = [
        "-a", ctx.arch, "--data", ctx.data, "--image-size", str(ctx.image_size),
        "--epochs", "1" if ctx.quick else str(r.epochs), "--lr", str(r.lr), "-b", str(r.batch_size),
        "--wd", str(r.weight_decay), "--seed", str(r.seed), "--resume", str(ctx.float_checkpoint),
        "--bit-config", str(bitconfig), "--act-range-momentum", "0.99", "--fix-BN", "-j", str(ctx.workers),
        "--device", ctx.device, "--save-path", str(out), "-p", "1000",
        "--sync-bn", "--sync-act-range",  # the same arithmetic in 1 and N processes (see torchrun_quant_train)
    ]  # fmt: skip
    argv += amp_flags(ctx)
    if ctx.compile:
        argv += ["--compile"]
    if ctx.common_acts == "unsigned":
        argv += ["--asymmetric-acts-below", "8"]
    if ctx.dali:
        argv += ["--dali"]  # the whole training set: DALI's reader takes no subset
    elif ctx.quick:  # 80 of digits' 1438 training images: an even count, so 2 processes need no padding
        argv += ["--data-percentage", "0.056"]
    return argv


def finetune_common(ctx: Context, bitconfig: Path, out: Path) -> FinetuneOutcome:
    """Fine-tune ``bitconfig`` on the common path; the top-1 is that of the last epoch.

    When shared input quantizers or weights below 2 bits had to be raised, the notes say which and give the BOPs
    actually trained.
    """
    from hawq import quant_train

    cfg, notes = share_input_bits(read_bitconfig(bitconfig), shared_input_groups(ctx.arch, ctx.num_classes))
    cfg, weight_notes = raise_weight_bits(cfg)
    notes += weight_notes
    if notes:
        bitconfig = write_bitconfig(cfg, Path(out) / "bit_config_common.json")
        gbops = measure(ctx.layers, {n: (lb.w, lb.a) for n, lb in cfg.layers.items()}).gbops
        notes.append(f"common QAT trains {gbops:.4f} GBOPs")
    argv = quant_train_argv(ctx, bitconfig, out)
    if distributed(ctx):
        return FinetuneOutcome(torchrun_quant_train(ctx, argv, Path(out)), notes)
    result = quant_train.main(argv)
    return FinetuneOutcome(float(result["val_acc1"]), notes)


def torchrun_quant_train(ctx: Context, argv: list[str], out: Path) -> float:
    """Run ``hawq.quant_train`` under torchrun (DDP: gloo on CPU, NCCL on CUDA); its ``final.json`` top-1.

    quant_train's ``-b`` is the global batch (split over the processes); :func:`quant_train_argv` always passes
    ``--sync-bn`` and ``--sync-act-range`` (in one process too, where they select the same float64 reductions), so
    the BN statistics before the fix-BN step and the activation ranges are those of the global batch and N processes
    train what one process does, up to the order of floating-point sums (HAWQ-V3's own DDP kept both per rank,
    which makes the result depend on the process count).
    """
    from hawq import quant_train

    run_step(ctx, "hawq.quant_train", argv, quant_train.main)
    final = out / "final.json"
    if not final.is_file():
        raise RuntimeError(f"torchrun hawq.quant_train wrote no {final}")
    return float(json.loads(final.read_text(encoding="utf-8"))["val_acc1"])
