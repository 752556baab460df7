"""HMQ search and fine-tune: ``python -m hmq.main`` (the original ``HMQ/main.py``; docs/hmq.md section 2).

Stages: float accuracy -> statistics pass (activation thresholds) -> ``--n_epochs`` search epochs
(Gumbel-softmax over (bit-width, threshold) pairs, target-compression loss, cyclic temperature) ->
``--n_epochs_final`` fine-tune epochs with the hard choices -> bit-config file and bit chart.

Distributed: ``torchrun --nproc_per_node=N -m hmq.main ...`` (``--local_rank`` is still accepted);
``--sync-bn``, ``--sync-act-range`` and ``--sync-noise`` make it equal one process with the N-fold batch.
``resume.pt`` holds every rank's generator states: ``--resume`` continues exactly.
``--fp16`` means fp16 autocast with a GradScaler (the original's apex O1); unlike the original it no
longer switches distribution on by itself.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

if __package__ in (None, ""):  # ``python hmq/main.py`` from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.bitconfig import read_bitconfig
from common.cost import evaluate_bitconfig
from common.data import build_datasets, build_loaders, set_loader_epoch
from common.models import build_model, get_spec
from common.runtime import (
    LossGuard,
    RunLogger,
    UsageError,
    add_common_args,
    add_local_rank_arg,
    add_sync_bn_arg,
    apply_local_rank_flag,
    broadcast_module_state,
    check_at_least,
    check_fraction,
    check_output_dir,
    check_positive,
    check_state_dict_fits,
    choose_device,
    cleanup_distributed,
    gather_rng_states,
    init_distributed,
    load_checkpoint,
    make_grad_scaler,
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
from common.runtime.compat_flags import warn_unused_flags
from common.runtime.ddp_sync import convert_sync_batchnorm
from common.runtime.runlog import add_logging_args
from hmq.block import HMQ, HmqControl
from hmq.compression import (
    activation_max_compression,
    apply_activation_bit_rule,
    expected_weight_compression,
    weight_compression,
)
from hmq.modules import HmqConv2d, HmqLinear
from hmq.networks import NETWORKS, attach_hmq, check_single_use, network_info
from hmq.report import apply_bitconfig, write_outputs
from hmq.schedules import CR_START, ParetoBest, SingleBest, target_schedule, temperature_schedule
from hmq.train import (
    StepConfig,
    broadcast_activation_thresholds,
    build_optimizers,
    evaluate,
    recalibrate_batchnorm,
    statistics_pass,
    train_epoch,
)
from hmq.weights import load_weights, original_weights_file

DATASETS = ("CIFAR10", "ImageNet", "digits")
#: What ``resume.pt`` holds (:meth:`_Run.save_resume`); ``--resume`` needs all of it.
RESUME_KEYS = ("stage", "epoch", "model", "optimizers", "scaler")
QUANTIZATION_PARTS = ("BOTH", "ACTIVATION", "COEFFICIENT")
DEFAULT_NETWORK = "resnet20"
PRESET = {"ImageNet": "hmq", "CIFAR10": "cifar", "digits": "digits"}


UNUSED_FLAGS = ("tag",)
"""Original flags the original never read either: accepted, a warning when set."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hmq.main", description=__doc__.split("\n\n")[0])
    a = p.add_argument
    a(
        "--log_dir",
        type=Path,
        default=None,
        help="where the run's logs go (args.json, epochs.csv, log.txt, final.json, tb/, wandb/); "
        "default: --out (checkpoints and bitconfig.json always go to --out)",
    )
    a(
        "--data_dir",
        type=str,
        default="/local_datasets/image_net/",
        help="dataset folder, or digits / synthetic",
    )
    a("--tag", type=str, default="", help="unused (kept from the original)")
    a("--num_workers", type=int, default=8)
    a("--dataset", type=str, default="ImageNet", help=f"one of {', '.join(DATASETS)}")
    a(
        "--network_name",
        type=str,
        default=DEFAULT_NETWORK,
        help=f"one of {', '.join(NETWORKS)} (the original default resnet18_cifar was never shipped)",
    )
    add_local_rank_arg(p)
    a("--n_epochs", type=int, default=30, help="search-stage epochs")
    a("--n_epochs_final", type=int, default=20, help="fine-tune-stage epochs")
    a("--batch_size", type=int, default=256, help="per process")
    a("--momentum", type=float, default=0.9, help="unused (RAdam betas are 0.9, 0.999)")
    a("--weight_decay", type=float, default=1e-4, help="decoupled weight decay of the network weights")
    a("--lr_start", type=float, default=1e-5, help="learning rate of the network weights")
    a("--lr_activation", type=float, default=0.01, help="learning rate of the activation HMQ logits")
    a("--lr_coefficient", type=float, default=0.01, help="learning rate of the weight HMQ logits")
    a("--fp16", action="store_true", help="fp16 autocast + GradScaler (same as --amp fp16)")
    a("--gamma", type=float, default=32.0, help="weight of the compression loss")
    a(
        "--bn_recalibrate",
        type=int,
        default=0,
        help="not in the original (0: off, as the original): at the start of the fine-tune stage, re-estimate "
        "the BatchNorm running statistics over this many training batches under the hard choices "
        "(the search leaves them from the soft quantizer; see hmq/README.md)",
    )
    a("--gamma_rate", type=float, default=2.0, help="exponent of the compression loss")
    a("--target_compression", type=float, default=17.0, help="final weight compression target")
    a("--target_compression_activation", type=float, default=8.0, help="final activation compression target")
    a("--cycle_size", type=int, default=5, help="epochs per target step and per temperature cycle")
    a("--n_target_steps", type=int, default=4, help="number of targets, linspace(4, target)")
    a("--gumbel_ste", action="store_true", help="straight-through Gumbel-softmax")
    a("--n_gumbel", type=int, default=25, help="temperature steps per epoch")
    a("--temp_step", type=float, default=1e-2, help="exponent decrement per temperature step")
    a("--quantization_part", type=str, default="BOTH", help=f"one of {', '.join(QUANTIZATION_PARTS)}")
    a(
        "--bits_list",
        type=int,
        nargs="+",
        default=[8, 7, 6, 5, 4, 3, 2, 1],
        help="weight bit-width candidates",
    )
    a("--activation_max_bit_width", type=int, default=8)
    a("--activation_min_bit_width", type=int, default=4)
    a("--n_thresholds_shifts", type=int, default=8)
    g = p.add_argument_group("added by this re-implementation")
    g.add_argument(
        "--image_size", type=int, default=None, help="input side (default: the network's, 224 or 32)"
    )
    g.add_argument(
        "--pretrained", default="auto", help="auto (published weights for ImageNet folders), none, or a file"
    )
    g.add_argument("--resume", type=Path, default=None, help="resume.pt of an interrupted run")
    g.add_argument(
        "--stats_batches", type=int, default=None, help="batches of the statistics pass (default all)"
    )
    g.add_argument(
        "--fix_small_epochs", action="store_true", help="temperature fix for < 13 batches/epoch (quirk 5)"
    )
    g.add_argument("--strict_levels", action="store_true", help="2^b levels instead of the original 2^b (+1)")
    g.add_argument(
        "--legacy_ddp_eval", action="store_true", help="original DDP: per-rank accuracy and thresholds"
    )
    g.add_argument(
        "--noise_device", choices=("cpu", "device"), default="cpu", help="where Gumbel noise is drawn"
    )
    g.add_argument("--wandb", action="store_true", help="also log to Weights & Biases (project HMQ)")
    g.add_argument(
        "--train_fraction", type=float, default=1.0, help="seeded random fraction of the training set"
    )
    g.add_argument(
        "--pinned_layers",
        nargs="+",
        default=[],
        metavar="LAYER",
        help="layers whose weight block offers only the largest of --bits_list (thresholds still searched)",
    )
    g.add_argument(
        "--bit_config",
        type=Path,
        default=None,
        help="bit-config file fixing every block's bits (and stored thresholds); needs --n_epochs 0",
    )
    d = p.add_argument_group("DDP: a run on N processes equal to one process on the N-fold batch")
    add_sync_bn_arg(d)
    d.add_argument(
        "--sync-act-range",
        "--sync_act_range",
        dest="sync_act_range",
        action="store_true",
        help="activation statistics (thresholds) from the max over all ranks (default: rank 0's)",
    )
    d.add_argument(
        "--sync-noise",
        "--sync_noise",
        dest="sync_noise",
        action="store_true",
        help="Gumbel noise from a generator seeded with --seed on every rank, drawn for the global batch "
        "(default: each rank draws its own from its rank-offset seed)",
    )
    add_common_args(p, seed_default=0)
    add_logging_args(p, project="HMQ")
    return p


def validate_args(args: argparse.Namespace) -> None:
    """Bad flag values as one-line :class:`UsageError` messages."""
    if args.network_name not in NETWORKS:
        raise UsageError(f"unknown --network_name {args.network_name!r}; choose from {', '.join(NETWORKS)}")
    if args.dataset not in DATASETS:
        raise UsageError(f"unknown --dataset {args.dataset!r}; choose from {', '.join(DATASETS)}")
    if args.quantization_part not in QUANTIZATION_PARTS:
        raise UsageError(
            f"unknown --quantization_part {args.quantization_part!r}; choose from {', '.join(QUANTIZATION_PARTS)}"
        )
    if any(not 1 <= b <= 16 for b in args.bits_list) or len(set(args.bits_list)) != len(args.bits_list):
        raise UsageError(f"--bits_list must hold distinct bit-widths in 1..16, got {args.bits_list}")
    if not 1 <= args.activation_min_bit_width <= args.activation_max_bit_width <= 16:
        raise UsageError("need 1 <= --activation_min_bit_width <= --activation_max_bit_width <= 16")
    reach_w = 32.0 / min(args.bits_list)
    if not math.isfinite(args.target_compression) or args.target_compression < 1:
        raise UsageError(f"--target_compression must be >= 1 (float32 is 1), got {args.target_compression}")
    if args.target_compression > reach_w:
        raise UsageError(
            f"--target_compression {args.target_compression} is unreachable: at most {reach_w:g} with --bits_list {args.bits_list}"
        )
    reach_a = 32.0 / args.activation_min_bit_width
    t_a = args.target_compression_activation
    if not math.isfinite(t_a) or t_a < 1 or t_a > reach_a:
        raise UsageError(f"--target_compression_activation must be within [1, {reach_a:g}], got {t_a}")
    for flag in ("n_epochs", "n_epochs_final", "bn_recalibrate"):
        if getattr(args, flag) < 0:
            raise UsageError(f"--{flag} must be >= 0")
    for flag in ("batch_size", "cycle_size", "n_target_steps", "n_gumbel", "n_thresholds_shifts"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag} must be >= 1")
    if args.num_workers < 0:
        raise UsageError("--num_workers must be >= 0")
    if args.image_size is not None and args.image_size < 8:
        raise UsageError(f"--image_size must be >= 8, got {args.image_size}")
    check_at_least("--gamma", args.gamma, 0)
    check_fraction("--train_fraction", args.train_fraction)
    for flag in ("lr_start", "lr_activation", "lr_coefficient", "gamma_rate"):
        check_positive(f"--{flag}", getattr(args, flag))
    check_at_least("--weight_decay", args.weight_decay, 0)
    check_at_least("--temp_step", args.temp_step, 0)
    if args.stats_batches is not None:
        check_at_least("--stats_batches", args.stats_batches, 1)
    check_output_dir("--out", args.out or Path("runs") / "hmq")
    if args.bit_config is not None:
        if not Path(args.bit_config).is_file():
            raise UsageError(f"--bit_config file not found: {args.bit_config}")
        if args.n_epochs != 0:
            raise UsageError("--bit_config fixes the choices: use it with --n_epochs 0")
        read_bitconfig(args.bit_config)  # a malformed file is reported before anything is written


def _data_argument(args: argparse.Namespace) -> str:
    data = str(args.data_dir)
    if args.dataset == "CIFAR10" and data not in ("digits", "synthetic") and not data.startswith("cifar10:"):
        return f"cifar10:{data}"
    return data


def _pretrained(args: argparse.Namespace) -> bool | str:
    value = str(args.pretrained)
    if value == "none":
        return False
    if value == "auto":
        return args.dataset == "ImageNet" and str(args.data_dir) not in ("digits", "synthetic")
    if not Path(value).is_file():
        raise UsageError(f"--pretrained file not found: {value}")
    return value


def _build_network(
    args: argparse.Namespace, num_classes: int, control: HmqControl, input_size: int
) -> tuple[nn.Module, str, int]:
    info = network_info(args.network_name)
    pretrained = _pretrained(args)
    if pretrained is True and original_weights_file(info.arch) is not None:
        pretrained = str(original_weights_file(info.arch))  # HMQ's own EfficientNet-B0, never torchvision's
    model = build_model(info.arch, num_classes, pretrained=pretrained is True)
    if isinstance(pretrained, str):
        load_weights(model, pretrained, info.arch)
    attach_hmq(model, control, args.bits_list, args.n_thresholds_shifts, info.float_layers)
    _pin_layers(model, control, args)
    check_single_use(model, min(input_size, 64))
    return model, info.arch, input_size


def _pin_layers(model: nn.Module, control: HmqControl, args: argparse.Namespace) -> None:
    """``--pinned_layers``: give each named layer a weight block whose only bit-width is max(--bits_list)."""
    modules = dict(model.named_modules())
    for name in args.pinned_layers:
        layer = modules.get(name)
        if not isinstance(layer, (HmqConv2d, HmqLinear)):
            raise UsageError(f"--pinned_layers: {name!r} is not a layer with an HMQ weight block")
        bits = (max(args.bits_list),)
        layer.q = HMQ(control, True, bits, args.n_thresholds_shifts, weight=layer.weight.detach())


def _set_logits_trainable(model: nn.Module, flag: bool) -> None:
    for m in model.modules():
        if isinstance(m, HMQ):
            m.search_matrix.requires_grad_(flag)


class _Run:
    """Everything one run carries between its stages."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dist = init_distributed(device=choose_device(args.device) if args.device != "auto" else None)
        self.device = choose_device(args.device)
        self.amp = "fp16" if args.fp16 else args.amp
        seed_everything(args.seed, self.dist.rank)
        preset = PRESET[args.dataset]
        self.control = HmqControl(
            ste=args.gumbel_ste, strict_levels=args.strict_levels, noise_device=args.noise_device
        )
        self.control.rank, self.control.world_size = self.dist.rank, self.dist.world_size
        self.control.statistics_sync = bool(args.sync_act_range)
        if args.sync_noise:
            where = self.device if args.noise_device == "device" else torch.device("cpu")
            self.control.generator = torch.Generator(device=where).manual_seed(int(args.seed))
        info = network_info(args.network_name)
        size = args.image_size or get_spec(info.arch).input_size
        train_ds, val_ds, self.num_classes = build_datasets(
            _data_argument(args),
            preset=preset,
            image_size=size,
            seed=args.seed,
            train_fraction=args.train_fraction,
        )
        self.train_loader, self.val_loader = build_loaders(
            train_ds,
            val_ds,
            args.batch_size,
            args.num_workers,
            distributed=self.dist.distributed,
            seed=args.seed,
            distributed_val=self.dist.distributed,
        )
        self.model, self.arch, self.input_size = _build_network(args, self.num_classes, self.control, size)
        if args.sync_bn:
            self.model, _ = convert_sync_batchnorm(self.model, self.device)
        self.model.to(self.device)
        # rank 0's weights and search matrices everywhere before the statistics pass (DDP would do it later)
        broadcast_module_state(self.model)
        if args.resume is not None:  # its kind and architecture, before the logger writes anything
            saved = require_checkpoint(load_checkpoint(args.resume), args.resume, RESUME_KEYS)
            check_state_dict_fits(self.model, saved["model"], f"--resume {args.resume}")
        self.out = (
            Path(args.out)
            if args.out
            else Path("runs") / "hmq" / f"{args.network_name}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        self.logger = RunLogger(
            args.log_dir if args.log_dir is not None else self.out,
            args,
            enabled=self.dist.is_main,
            wandb=args.wandb,
            wandb_project=args.wandb_project,  # default HMQ (add_logging_args)
        )
        self.reduce_eval = not args.legacy_ddp_eval

    # --- helpers ------------------------------------------------------------------------------
    @property
    def bare(self) -> nn.Module:
        return unwrap_model(self.model)

    def evaluate(self, loader: Any, desc: str) -> float:
        return evaluate(self.bare, loader, self.device, self.amp, reduce=self.reduce_eval, desc=desc)

    def save(self, name: str) -> None:
        if self.dist.is_main:
            save_checkpoint(self.bare.state_dict(), self.out / name)

    def save_resume(
        self, stage: str, epoch: int, opts: list[torch.optim.Optimizer], scaler: Any, state: dict
    ) -> None:
        """``resume.pt``: model, optimizers, scaler, ``state``, every rank's generator states (``rng``) and,
        with ``--sync_noise``, the shared noise generator's state (``noise_rng``)."""
        state = {**state, "rng": gather_rng_states()}  # a collective: every rank takes part
        if self.control.generator is not None:
            state["noise_rng"] = self.control.generator.get_state()
        if self.dist.is_main:
            save_checkpoint(
                {
                    "stage": stage,
                    "epoch": epoch,
                    "model": self.bare.state_dict(),
                    "optimizers": [o.state_dict() for o in opts],
                    "scaler": scaler.state_dict(),
                    **state,
                },
                self.out / "resume.pt",
            )

    def row(
        self,
        stage: str,
        epoch: int,
        stats: dict[str, float],
        val_acc: float,
        target_w: float,
        target_a: float,
    ) -> None:
        bare = self.bare
        wcr = weight_compression(bare)
        row = {
            "stage": stage,
            "epoch": epoch,
            "loss": stats.get("loss", float("nan")),
            "train_acc": stats.get("train_acc", float("nan")),
            "val_acc": val_acc,
            "wcr": wcr,
            "expected_wcr": float(expected_weight_compression(bare).detach()),
            "acr": activation_max_compression(bare),
            "target_w": target_w,
            "target_a": target_a,
            "temperature": stats.get("temperature", float("nan")),
        }
        self.logger.log_epoch(row, step=epoch if stage != "final" else self.args.n_epochs + epoch)
        self.logger.info(
            "%s epoch %d: loss %.4f train %.2f%% val %.2f%% WCR %.3f (expected %.3f) ACR %.3f target %.3f/%.3f tau %s",
            stage, epoch, row["loss"], row["train_acc"], val_acc, wcr, row["expected_wcr"], row["acr"],
            target_w, target_a, row["temperature"],
        )  # fmt: skip


def _restore_generators(run: _Run, resume: dict[str, Any]) -> None:
    """Every rank's generator states and the shared noise generator's from ``resume.pt`` (when it has them)."""
    rng = resume.get("rng")
    if rng is not None and not restore_rng_states(rng, run.dist.rank, run.dist.world_size):
        run.logger.warning("resume.pt's generator states are from another number of processes: not restored")
    if run.control.generator is not None and "noise_rng" in resume:
        run.control.generator.set_state(resume["noise_rng"])


def _wrap(run: _Run) -> nn.Module:
    if not run.dist.distributed:
        return run.bare
    return wrap_ddp(run.bare, run.device, run.dist, find_unused_parameters=True, broadcast_buffers=False)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    apply_local_rank_flag(args.local_rank)
    warn_unused_flags(args, build_parser(), UNUSED_FLAGS, "the original never read it either")
    validate_args(args)
    set_threads(args.threads)
    if args.resume is not None and not Path(args.resume).is_file():
        raise UsageError(f"--resume file not found: {args.resume}")
    run = _Run(args)
    set_resume_hint(f"--resume {run.out / 'resume.pt'}", run.out / "resume.pt")
    try:
        return _stages(run)
    finally:
        run.logger.close()
        cleanup_distributed()


def _stages(run: _Run) -> int:
    args, control = run.args, run.control
    part = args.quantization_part
    n_batches = len(run.train_loader)
    tau = temperature_schedule(
        n_batches, args.cycle_size, args.n_gumbel, args.temp_step, args.fix_small_epochs
    )
    target_w = target_schedule(args.target_compression, args.cycle_size, args.n_target_steps, CR_START)
    target_a = target_schedule(
        args.target_compression_activation, args.cycle_size, args.n_target_steps, CR_START
    )
    if n_batches < 13 and not args.fix_small_epochs:
        run.logger.warning(
            "%d batches per epoch: the original temperature is NaN (hard path) at cycle starts and 0.5 "
            "elsewhere (quirk 5); --fix_small_epochs repairs it",
            n_batches,
        )
    resume: dict[str, Any] = {}
    if args.resume is not None:
        resume = load_checkpoint(args.resume)
        run.bare.load_state_dict(resume["model"])
    control.quant_weights = part in ("BOTH", "COEFFICIENT")
    control.quant_acts = part in ("BOTH", "ACTIVATION")
    float_acc = resume.get("float_acc")
    if not resume:
        control.quant_weights = control.quant_acts = False
        float_acc = run.evaluate(run.val_loader, "float eval")
        run.logger.info("float top-1 %.2f%%", float_acc)
        control.quant_weights = part in ("BOTH", "COEFFICIENT")
        control.quant_acts = part in ("BOTH", "ACTIVATION")
        if control.quant_acts:
            seen = statistics_pass(
                run.bare, run.train_loader, control, run.device, args.stats_batches, run.amp
            )
            if not args.legacy_ddp_eval:
                broadcast_activation_thresholds(run.bare)
            run.logger.info("statistics pass over %d batches", seen)
        if args.bit_config is not None:
            apply_bitconfig(run.bare, read_bitconfig(args.bit_config), run.input_size, run.arch)
            run.logger.info("choices fixed by --bit_config %s", args.bit_config)
    model = _wrap(run)
    run.model = model
    net_opt, hmq_opt = build_optimizers(
        model, args.lr_start, args.weight_decay, args.lr_activation, args.lr_coefficient
    )
    scaler = make_grad_scaler(run.device, run.amp != "none", run.amp)
    if resume:
        net_opt.load_state_dict(resume["optimizers"][0])
        if len(resume["optimizers"]) > 1:
            hmq_opt.load_state_dict(resume["optimizers"][1])
        scaler.load_state_dict(resume["scaler"])
        _restore_generators(run, resume)
    pareto = ParetoBest()
    pareto.last = tuple(resume["pareto"]) if resume.get("pareto") else None
    start = resume["epoch"] + 1 if resume.get("stage") == "search" else (args.n_epochs if resume else 0)
    start_search = time.time()
    guard = LossGuard(checkpoint=run.out / "resume.pt")  # NaN/inf losses, read once per epoch
    for e in range(start, args.n_epochs):
        set_loader_epoch(run.train_loader, e)
        t_w, t_a = target_w(e), target_a(e)
        if control.quant_acts:
            apply_activation_bit_rule(
                run.bare, t_a, args.activation_min_bit_width, args.activation_max_bit_width
            )
        if e == 0:
            control.temperature = 1.0
            val0 = run.evaluate(run.val_loader, "initial val")
            train0 = run.evaluate(run.train_loader, "initial train")
            run.row("init", 0, {"train_acc": train0, "temperature": 1.0}, val0, t_w, t_a)
            set_loader_epoch(run.train_loader, e)  # the pass above took this epoch's number
        cfg = StepConfig(run.device, run.amp, args.gamma, args.gamma_rate, t_w, search=True)
        stats = train_epoch(
            model,
            run.train_loader,
            [hmq_opt, net_opt],
            scaler,
            control,
            cfg,
            tau,
            e * n_batches,
            f"search {e}",
            guard=guard,
            epoch=e,
        )
        val = run.evaluate(run.val_loader, "val")
        run.row("search", e, stats, val, t_w, t_a)
        if pareto.update(weight_compression(run.bare), val):
            run.save("parto_best.pt")
        run.save("last.pt")
        run.save_resume(
            "search", e, [net_opt, hmq_opt], scaler, {"pareto": pareto.last, "float_acc": float_acc}
        )
    search_time = time.time() - start_search
    # fine-tune stage: hard choices, network weights only (same RAdam instance)
    control.temperature = -1.0
    _set_logits_trainable(run.bare, False)
    model = _wrap(run)
    run.model = model
    single = SingleBest()
    single.best = resume.get("best_final") if resume.get("stage") == "final" else None
    best_acc = single.best
    last_acc = resume.get("last_final")
    first_final = resume["epoch"] + 1 if resume.get("stage") == "final" else 0
    if args.bn_recalibrate > 0 and first_final == 0:
        set_loader_epoch(run.train_loader, args.n_epochs)  # the first fine-tune epoch's (seed, epoch) order
        seen = recalibrate_batchnorm(
            run.bare, run.train_loader, control, run.device, max_batches=args.bn_recalibrate, amp=run.amp
        )
        run.logger.info(f"BatchNorm statistics re-estimated under the hard choices over {seen} batches")
    t_w_last, t_a_last = target_w(args.n_epochs - 1), target_a(args.n_epochs - 1)
    for e in range(first_final, args.n_epochs_final):
        set_loader_epoch(run.train_loader, args.n_epochs + e)
        cfg = StepConfig(run.device, run.amp, 0.0, args.gamma_rate, t_w_last, search=False)
        stats = train_epoch(
            model,
            run.train_loader,
            [net_opt],
            scaler,
            control,
            cfg,
            None,
            0,
            f"final {e}",
            guard=guard,
            epoch=e,
        )
        last_acc = run.evaluate(run.val_loader, "val")
        run.row("final", e, stats, last_acc, t_w_last, t_a_last)
        if single.update(last_acc):
            best_acc = last_acc
            run.save("final_best.pt")
        run.save("final_last.pt")
        run.save_resume(
            "final",
            e,
            [net_opt],
            scaler,
            {"float_acc": float_acc, "best_final": single.best, "last_final": last_acc},
        )
    return _finish(run, float_acc, best_acc, last_acc, search_time)


def _finish(
    run: _Run, float_acc: float | None, best_acc: float | None, last_acc: float | None, search_time: float
) -> int:
    args = run.args
    if last_acc is None:  # no fine-tune epoch: report the model as searched
        last_acc = run.evaluate(run.val_loader, "val")
    result: dict[str, Any] = {
        "network_name": args.network_name,
        "arch": run.arch,
        "float_top1": float_acc,
        "top1": best_acc if best_acc is not None else last_acc,
        "top1_last": last_acc,
        "top1_note": "best fine-tune epoch on the validation set (the original's model selection); top1_last = last epoch",
        "wcr": weight_compression(run.bare),
        "acr_max": activation_max_compression(run.bare),
        "search_time_s": round(search_time, 3),
    }
    if run.dist.is_main:
        source = f"hmq.main --network_name {args.network_name} --target_compression {args.target_compression}"
        cfg_path, png = write_outputs(
            run.bare,
            run.arch,
            run.num_classes,
            run.input_size,
            run.out,
            source,
            {"top1": result["top1"]},
            quant_weights=run.control.quant_weights,
            quant_acts=run.control.quant_acts,
        )
        cost = evaluate_bitconfig(read_bitconfig(cfg_path), "hmq").totals
        result.update({"size_MB": cost["size_MB"], "bitconfig": str(cfg_path), "bits_png": str(png)})
        run.logger.info(
            "done: top-1 %.2f%% WCR %.3f size %.4f MB", result["top1"], result["wcr"], result["size_MB"]
        )
        run.logger.finalize(result)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(run_main(main))
