"""OMPQ's ``PTQ/main_imagenet.py``: BRECQ with AdaRound and a per-layer weight bit list (docs/ompq.md §2.3, §3.4).

``python -m ompq.PTQ.main_imagenet --data_path DATA --arch resnet18 --n_bits_w 2 --channel_wise --n_bits_a 8
--act_quant --test_before_calibration --bit_cfg "[4,3,3,4,4,4,4,4,4,4,3,3,4,4,3,3,3,3]"``

Steps: float model → BN folded → QuantModel (per-channel MSE weight scales at ``--n_bits_w``, per-tensor MSE
activation step sizes at ``--n_bits_a``) → first/last at 8 bit (unless ``--disable_8bit_head_stem``) → weight bits
from ``--bit_cfg`` (overriding the 8-bit first/last weights, kept) → block/layer AdaRound reconstruction on
``--num_samples`` augmented training images → with ``--act_quant`` activation step-size calibration → accuracy.

Kept from the original: every flag with its default; ``--seed`` is parsed but not used (the original's seeding is
commented out: pass ``--use_seed`` to seed). Changed: PIL instead of accimage; ``--bit_cfg`` read as a literal, not
eval'd; the result label names the bit list ("mixed") instead of W{n_bits_w}; the model is saved
(``<out>/quantized_model.pth`` with its quantizer state, see :mod:`ompq.PTQ.saved_model`; ``python -m
ompq.PTQ.evaluate <out>`` reloads and evaluates it; plus ``bit_config.json``). Added: ``--bit_config FILE`` (the
search's file), ``--weights FILE``, ``--image_size``, ``--device``, ``--out``, ``--data_path digits``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.bitconfig import BitConfig, LayerBits, read_bitconfig, write_bitconfig
from common.data import build_datasets, build_loaders
from common.models import build_model
from common.models.pretrained import read_state_dict
from common.models.weight_layouts import SOURCES, load_original
from common.runtime import (
    AverageMeter,
    RunLogger,
    UsageError,
    accuracy,
    add_threads_arg,
    check_at_least,
    check_output_dir,
    check_positive,
    check_range,
    choose_device,
    cleanup_distributed,
    init_distributed,
    is_main_process,
    launched_world_size,
    load_checkpoint,
    load_state_dict_checked,
    progress,
    require_checkpoint,
    rng_state,
    run_main,
    save_checkpoint,
    seed_everything,
    set_rng_state,
    set_threads,
)
from common.runtime.compat_flags import warn_unused_flags
from common.runtime.runlog import add_logging_args
from ompq.PTQ.bit_list import expand_bit_list, layer_names, parse_bit_cfg
from ompq.PTQ.quant.fold_bn import fold_all_bn
from ompq.PTQ.quant.quant_model import QuantModel
from ompq.PTQ.quant.reconstruction import as_weight_reconstructed, recon_model, reconstruction_units
from ompq.PTQ.saved_model import save_quantized

ARCHS = {
    "resnet18": "resnet18",
    "mobilenetv2": "mobilenet_v2",
    "tiny_resnet": "tiny_resnet",
    "tiny_mobilenet_v2": "tiny_mobilenet_v2",
}


UNUSED_FLAGS = ("use_bias", "vcorr", "bcorr")
"""No-ops in the original: accepted, a warning when set."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ompq.PTQ.main_imagenet", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--seed", default=1005, type=int, help="parsed but unused, as the original (see --use_seed)"
    )
    p.add_argument("--arch", default="resnet18", type=str, help=f"one of {', '.join(ARCHS)}")
    p.add_argument("--batch_size", default=64, type=int)
    p.add_argument("--workers", default=4, type=int)
    p.add_argument("--data_path", default="", type=str, help="ImageNet root (train/, val/) or 'digits'")
    p.add_argument("--n_bits_w", default=4, type=int)
    p.add_argument("--channel_wise", action="store_true")
    p.add_argument("--n_bits_a", default=4, type=int)
    p.add_argument("--act_quant", action="store_true")
    p.add_argument("--disable_8bit_head_stem", action="store_true")
    p.add_argument("--test_before_calibration", action="store_true")
    p.add_argument("--bit_cfg", default="None", type=str, help='weight bit list, e.g. "[4,3,...]"')
    p.add_argument("--num_samples", default=1024, type=int)
    p.add_argument("--iters_w", default=20000, type=int)
    p.add_argument("--weight", default=0.01, type=float)
    p.add_argument("--sym", action="store_true", help="unused")
    p.add_argument("--b_start", default=20, type=int)
    p.add_argument("--b_end", default=2, type=int)
    p.add_argument("--warmup", default=0.2, type=float)
    p.add_argument("--step", default=20, type=int, help="unused")
    p.add_argument("--use_bias", action="store_true", help="no-op in the original")
    p.add_argument("--vcorr", action="store_true", help="no-op in the original")
    p.add_argument("--bcorr", action="store_true", help="no-op in the original")
    p.add_argument("--iters_a", default=5000, type=int)
    p.add_argument("--lr", default=4e-4, type=float)
    p.add_argument("--p", default=2.4, type=float)
    new = p.add_argument_group("added by this reimplementation")
    new.add_argument("--use_seed", action="store_true", help="seed everything with --seed")
    new.add_argument("--bit_config", type=Path, default=None, help="portable bit-config file (weights bits)")
    new.add_argument(
        "--weights", type=str, default=None, help="float weights file (default: published weights)"
    )
    new.add_argument("--image_size", type=int, default=None, help="default 224 (32 for digits)")
    new.add_argument("--device", default="auto")
    add_threads_arg(new)
    new.add_argument("--out", type=Path, default=Path("runs/ompq_ptq"))
    new.add_argument(
        "--resume",
        type=Path,
        default=None,
        help="<out>/ptq_state.pth of an interrupted run (written after every reconstructed unit) to continue",
    )
    add_logging_args(p)
    return p


def check_args(args: argparse.Namespace) -> str:
    if args.arch not in ARCHS:
        raise UsageError(f"unknown --arch {args.arch!r}; choose one of: {', '.join(ARCHS)}")
    if not args.data_path:
        raise UsageError("--data_path is required (ImageNet root with train/ and val/, or 'digits')")
    for flag in ("n_bits_w", "n_bits_a"):
        if not 2 <= getattr(args, flag) <= 8:
            raise UsageError(f"--{flag} must be in [2, 8], got {getattr(args, flag)}")
    if args.num_samples < 32:
        raise UsageError("--num_samples must be at least 32 (reconstruction caches batches of 32)")
    check_at_least("--batch_size", args.batch_size, 1)
    check_at_least("--workers", args.workers, 0)
    check_at_least("--iters_w", args.iters_w, 0)
    check_at_least("--iters_a", args.iters_a, 0)
    check_positive("--lr", args.lr)
    check_positive("--p", args.p)
    check_at_least("--weight", args.weight, 0)
    check_range("--warmup", args.warmup, 0, 1)
    check_positive("--b_end", args.b_end)
    check_at_least("--b_start", args.b_start, args.b_end)
    if args.image_size is not None:
        check_at_least("--image_size", args.image_size, 8)
    check_output_dir("--out", args.out)
    if args.bit_config is not None and not args.bit_config.is_file():
        raise UsageError(f"--bit_config file not found: {args.bit_config}")
    return ARCHS[args.arch]


def float_model(name: str, args: argparse.Namespace, classes: int, digits: bool) -> nn.Module:
    """The float model PTQ starts from: ``--weights FILE``, else BRECQ's released weights (what the original
    loads, ``$MPQ_WEIGHTS_DIR/brecq/<file>``; missing is an error giving the URL, never torchvision's weights)."""
    source = SOURCES.get(("brecq", name))
    if args.weights:
        model = build_model(name, classes)
        if source is not None:  # BRECQ's MobileNetV2 layout is renamed; torchvision names load as they are
            load_original(model, source, args.weights)
            return model
        state = read_state_dict(args.weights)
        state = state.get("model", state) if isinstance(state, dict) else state
        load_state_dict_checked(model, state, f"--weights {args.weights}")
        return model
    if digits:
        return build_model(name, classes)
    if source is None:
        return build_model(name, classes, pretrained=True)
    return load_original(build_model(name, classes), source)


def weight_bits(args: argparse.Namespace, fmodel: nn.Module, name: str, size: int) -> dict[str, int] | None:
    """Layer name → weight bits from ``--bit_config`` or ``--bit_cfg`` (None when neither is given)."""
    if args.bit_config is not None:
        cfg = read_bitconfig(args.bit_config)
        names = layer_names(fmodel, size)
        if cfg.arch != name or set(cfg.layers) != set(names):
            raise UsageError(
                f"--bit_config is for {cfg.arch} ({len(cfg.layers)} layers), the model is {name}"
            )
        low = [n for n in names if not 2 <= cfg.layers[n].w <= 8]
        if low:
            raise UsageError(
                f"--bit_config layer {low[0]!r}: w={cfg.layers[low[0]].w} is outside BRECQ's quantizer range [2, 8]"
            )
        return {n: cfg.layers[n].w for n in names}
    bits = parse_bit_cfg(args.bit_cfg)
    return None if bits is None else expand_bit_list(bits, fmodel, size)


@torch.no_grad()
def validate(model: nn.Module, loader: Any, device: torch.device, desc: str) -> float:
    model.eval()
    top1 = AverageMeter("Acc@1")
    for images, target in progress(loader, desc=desc):
        out = model(images.to(device))
        top1.update(accuracy(out, target.to(device), topk=(1,))[0], images.size(0))
    return float(top1.avg)


#: the reconstruction's batch (``reconstruct``'s default, as in the original); under torchrun each of W processes
#: computes 32 / W of every batch
RECON_BATCH = 32


def share_rank0_calibration(cali: torch.Tensor | None) -> None:
    """Under torchrun: give every rank rank 0's calibration images (in place, when ``cali`` is given) and rank 0's
    generator states, so all ranks initialise the same scales and draw the same reconstruction batches (without
    ``--use_seed`` the ranks' streams differ, as the original's unseeded runs do)."""
    import torch.distributed as dist

    if cali is not None:
        dist.broadcast(cali, src=0)
    box = [rng_state()]
    dist.broadcast_object_list(box, src=0)
    set_rng_state(box[0])


def calibration_samples(loader: Any, n: int) -> torch.Tensor:
    """The first ``n`` images of the shuffled, augmented training loader."""
    chunks, have = [], 0
    for images, _ in loader:
        chunks.append(images)
        have += images.size(0)
        if have >= n:
            break
    return torch.cat(chunks)[:n]


class _Resumable:
    """``<out>/ptq_state.pth`` after every reconstructed unit, and ``--resume`` from it.

    The file holds the stage (``weights``/``acts``), the units done in it, the quantized model's state, the
    generator states and the accuracies so far. Everything before the reconstruction (model, calibration
    images, initial scales) is rebuilt the same way by the resumed run; the units already done get the
    structure their reconstruction left, the saved state is loaded and the generators restored, so the
    remaining units reconstruct exactly as in the uninterrupted run (which needs ``--use_seed``: without it
    the original is unseeded and no two runs agree).
    """

    def __init__(
        self,
        args: argparse.Namespace,
        qnn: QuantModel,
        names: list[str],
        cali: torch.Tensor,
        log: Callable[[str], None] = print,
    ) -> None:
        self.args, self.qnn, self.cali, self.log = args, qnn, cali, log
        self.units = sum(not unit.ignore_reconstruction for _, unit in reconstruction_units(qnn.model))
        self.path = Path(args.out) / "ptq_state.pth"
        bits = [m.weight_quantizer.n_bits for _, m in qnn.quant_modules()]
        self.config = {
            "arch": args.arch, "layers": list(names), "weight_bits": bits, "n_bits_a": args.n_bits_a,
            "act_quant": bool(args.act_quant), "num_samples": args.num_samples, "iters_w": args.iters_w,
            "iters_a": args.iters_a, "seed": args.seed if args.use_seed else None,
        }  # fmt: skip
        self.stage, self.done = "weights", {"weights": [], "acts": []}
        self.result: dict[str, Any] = {"arch": args.arch}
        if args.resume is not None:
            self._load(args.resume)

    def _load(self, path: Path) -> None:
        saved = require_checkpoint(
            load_checkpoint(path), path, ("config", "stage", "done", "result", "state_dict", "rng")
        )
        differ = [k for k, v in self.config.items() if saved["config"].get(k) != v]
        if differ:
            raise UsageError(f"--resume {path} was written by another run: its {', '.join(differ)} differ")
        self.stage, self.done, self.result = saved["stage"], dict(saved["done"]), dict(saved["result"])
        units = reconstruction_units(self.qnn.model)
        for name, unit in units:
            if self.stage == "acts" or name in self.done["weights"]:
                as_weight_reconstructed(unit)
        if self.stage == "acts":
            self.init_act_quantizers()
        self.qnn.load_state_dict(saved["state_dict"])
        set_rng_state(saved["rng"])

    def init_act_quantizers(self) -> None:
        """The start of the activation stage: activation scales initialised, the network output left float."""
        self.qnn.set_quant_state(True, True)
        with torch.no_grad():
            self.qnn(self.cali[:64])
        self.qnn.disable_network_output_quantization()

    def hooks(self, stage: str) -> dict[str, Any]:
        """``recon_model`` keywords: skip the units done in ``stage``, checkpoint after each new one."""
        done = self.done[stage]

        def after_unit(name: str) -> None:
            done.append(name)
            self.log(f"{stage}: reconstructed {name} ({len(done)}/{self.units} units)")
            state = {
                "config": self.config, "stage": stage, "done": {k: list(v) for k, v in self.done.items()},
                "result": dict(self.result), "rng": rng_state(),
                "state_dict": {k: v.detach().cpu() for k, v in self.qnn.state_dict().items()},
            }  # fmt: skip
            if is_main_process():
                save_checkpoint(state, self.path)

        return {"done": set(done), "after_unit": after_unit}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    warn_unused_flags(args, build_parser(), UNUSED_FLAGS, "it was a no-op in the original too")
    set_threads(args.threads)
    name = check_args(args)
    digits = args.data_path in ("digits", "synthetic")
    size = args.image_size or (32 if digits else 224)
    if args.use_seed:
        seed_everything(args.seed)
    device = choose_device(args.device)
    world = launched_world_size()  # checked before joining the group
    if RECON_BATCH % world:
        raise UsageError(
            f"the reconstruction batch of {RECON_BATCH} does not split over {world} processes (use 2, 4, 8, 16 or 32)"
        )
    info = init_distributed(device=device)
    train_ds, val_ds, classes = build_datasets(
        args.data_path, preset="digits" if digits else "imagenet", image_size=size
    )
    train_loader, val_loader = build_loaders(
        train_ds, val_ds, args.batch_size, 0 if digits else args.workers, seed=args.seed
    )
    fmodel = float_model(name, args, classes, digits)
    bits = weight_bits(args, fmodel, name, size)
    names = layer_names(fmodel, size)
    logger = RunLogger(args.out, args)
    fmodel = fold_all_bn(fmodel.to(device).eval())
    wq = {"n_bits": args.n_bits_w, "channel_wise": args.channel_wise, "scale_method": "mse"}
    aq = {"n_bits": args.n_bits_a, "channel_wise": False, "scale_method": "mse", "leaf_param": True}
    qnn = QuantModel(fmodel, wq, aq).to(device).eval()
    if not args.disable_8bit_head_stem:
        qnn.set_first_last_layer_to_8bit()
    if bits is not None:
        qnn.set_mixed_precision([bits[n] for n in names if n in bits])  # a block-wise list: a prefix
    cali = calibration_samples(train_loader, args.num_samples).to(device)
    # the reconstruction draws its batches alike on every rank: rank 0's images and generator streams
    if info.distributed:
        share_rank0_calibration(cali)
    started = time.perf_counter()
    qnn.set_quant_state(True, False)
    with torch.no_grad():
        qnn(cali[:64])
    run = _Resumable(args, qnn, names, cali, logger.info)
    if info.distributed and args.resume is not None:
        share_rank0_calibration(None)  # the resumed generator states, the same on every rank
    result = run.result
    if args.test_before_calibration and "acc_before_brecq" not in result:
        result["acc_before_brecq"] = validate(qnn, val_loader, device, "before BRECQ")
        logger.info("Quantized accuracy before brecq: %.3f", result["acc_before_brecq"])
        logger.log_epoch({"stage": "before_brecq", "top1": result["acc_before_brecq"]}, step=0)
    if run.stage == "weights":
        common = {"cali_data": cali, "asym": True, "act_quant": False, "b_range": (args.b_start, args.b_end),
                  "batch_size": RECON_BATCH}  # fmt: skip
        recon_model(qnn, qnn.model, iters=args.iters_w, weight=args.weight, warmup=args.warmup, **common,
                    **run.hooks("weights"))  # fmt: skip
        qnn.set_quant_state(True, False)
        result["acc_weight_quant"] = validate(qnn, val_loader, device, "weight quantization")
    logger.info("Weight quantization accuracy: %.3f", result["acc_weight_quant"])
    logger.log_epoch({"stage": "weight_quant", "top1": result["acc_weight_quant"]}, step=1)
    if args.act_quant:
        if run.stage != "acts":  # a run resumed in the activation stage has these steps behind it
            run.init_act_quantizers()
        recon_model(qnn, qnn.model, cali_data=cali, iters=args.iters_a, act_quant=True, lr=args.lr, p=args.p,
                    batch_size=RECON_BATCH,
                    **run.hooks("acts"))  # fmt: skip
        qnn.set_quant_state(True, True)
        result["acc_full_quant"] = validate(qnn, val_loader, device, "full quantization")
        label = "mixed" if bits is not None else str(args.n_bits_w)
        logger.info(
            "Full quantization (W%sA%d) accuracy: %.3f", label, args.n_bits_a, result["acc_full_quant"]
        )
        logger.log_epoch({"stage": "full_quant", "top1": result["acc_full_quant"]}, step=2)
    result["wall_s"] = time.perf_counter() - started
    final_bits = {n: m.weight_quantizer.n_bits for n, (_, m) in zip(names, qnn.quant_modules(), strict=True)}
    cfg = BitConfig(
        arch=name, layers={n: LayerBits(b, args.n_bits_a) for n, b in final_bits.items()}, method="ompq",
        source=f"ompq.PTQ.main_imagenet --arch {args.arch} --bit_cfg {args.bit_cfg}", num_classes=classes,
        input_size=size, extra={"ompq": {"mode": "ptq", "a_bits": args.n_bits_a}},
    )  # fmt: skip
    build = {"arch": name, "num_classes": classes, "image_size": size, "weight_quant": wq, "act_quant": aq,
             "data_path": args.data_path}  # fmt: skip
    accs = {k: v for k, v in result.items() if k.startswith("acc_")}
    if is_main_process():
        write_bitconfig(cfg, args.out / "bit_config.json")
        save_quantized(qnn, args.out / "quantized_model.pth", build, arch=name, weight_bits=final_bits,
                       n_bits_a=args.n_bits_a, result=accs)  # fmt: skip
    result["weight_bits"] = list(final_bits.values())
    logger.finalize(result)
    logger.close()
    cleanup_distributed()
    return result


if __name__ == "__main__":
    run_main(main)
