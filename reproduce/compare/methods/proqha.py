"""ProQHA in the benchmark: 8-bit QAT start point -> progressive lowering until the budget holds -> train.py.

Search (all in this process, through the entrypoints' ``main(argv)`` with ProQHA's own flags):

1. ``proqha/main/train.py --archtype quant --k_bits 8 --ratio 1.0`` from the float checkpoint (ProQHA's
   ``--arch tiny_resnet --num_layers 10``: the post-activation blocks of its ImageNet ResNet-18 at the
   ``tiny_resnet`` widths; the checkpoint loads by name, PACT clips start at 10): the uniform 8-bit baseline
   that ``scripts/run.sh`` trains, here for one epoch at run.sh's lr 1e-3 / weight decay 1e-4 with ``--clip``.
2. ``proqha/main/search.py`` resumed from it: every round scores ``--lam`` random candidates (half of the 16
   quantizers lowered by ``--interval``, floor 2) with one Adam step, keeps the lowest score and fine-tunes.
   ProQHA's only budget is its cost, a weight-size ratio over its quantized convs. The benchmark's weight-bit
   limit, less what conv1, fc and the downsample convs cost at 8 bits, is exactly ``--cost C`` over the 8
   block convs when each conv is charged its own weight bits, so the search runs with ``--cost C
   --enforce_cost --cost_pairing weight_bits``: the faithful ``odd_position`` pairing charges each conv of
   this post-activation layout the bits of the PACT after it, which would not bound the weights. ProQHA
   cannot express BOPs; after the round that meets ``--cost`` the adapter measures the benchmark's BOPs and,
   while they exceed the limit, resumes ``search.py`` (same flags, same ``--out``) for one more round, as
   the progressive schedule would go on, up to ``--step`` rounds in all.

Models and data (:data:`PROQHA_ARCH`, :data:`PROQHA_DATASET`): ``tiny_resnet`` on digits or CIFAR-10 (ProQHA's
CIFAR family) and ``resnet18`` on an ImageFolder (ProQHA's ImageNet ResNet-18, post-activation like torchvision's,
so the float checkpoint loads by name; 32 quantizers over its 16 block convs), at the benchmark's side through
ProQHA's ``--image_size`` addition. ProQHA's ResNet-20/32/56 and CIFAR ResNet-18/34 are pre-activation, its
MobileNetV2 pre-activation too: a benchmark float model does not load into them, so those pairs are unsupported
rows.

Reduced relative to ``scripts/search.sh`` (25 rounds of lambda = 500 candidates, a 128-image scoring batch
and 30 ImageNet epochs of fine-tuning per round, after a 300-epoch 8-bit baseline) to stay within a minute
on two CPU cores: a one-epoch baseline, lambda = 8 candidates scored on the recipe's batch size (64) and one
fine-tuning epoch on a quarter of the digits train set per round, at most 16 rounds. ``--interval 1`` and
``--ratio 0.5`` are the paper's; the budget is met after 8-9 rounds (about 25 s unloaded, 40-70 s on a busy
machine). lambda = 16 took 10 rounds and 42 s unloaded, too close to the limit. Quick mode: lambda = 2,
``--interval 4``, 5 % of the data.

Fine-tuning: ``train.py --bits_file`` (ProQHA's own quantizers and SGD loop) from the float checkpoint with
the recipe's epochs, batch size, lr, weight decay and seed.

Bit config: the 8 block convs carry the searched weight bits and, as input bits, those of the PACT before
them. conv1, the downsample convs and fc are float in ProQHA's model and written at W8A8; the input of
``layer1.0.conv1`` (the float stem's ReLU in ProQHA) is written at 8 bits, and the PACT that feeds fc is set
to 8 bits (fc is pinned at W8A8), in the file and in the fine-tuning that reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from common.bitconfig import BitConfig, LayerBits, from_proqha, proqha_quant_layers, write_bitconfig
from common.runtime import load_checkpoint
from reproduce.compare.budget import PINNED_BITS, Measured, measure, within
from reproduce.compare.launch import amp_flags, loader_workers, per_process_batch, run_step, sync_bn_flags
from reproduce.compare.method import Context, FinetuneOutcome, Method, SearchOutcome, data_kind

#: ProQHA's ``--arch``/``--num_layers`` of each benchmark model it can search: the post-activation ResNets, whose
#: float weights load by name (2 * (num_layers - 2) quantizers: 16 for tiny_resnet, 32 for resnet18)
PROQHA_ARCH = {"tiny_resnet": ("tiny_resnet", 10), "resnet18": ("resnet", 18)}
#: ProQHA's ``--dataset`` per benchmark model and :func:`~reproduce.compare.method.data_kind`: tiny_resnet is a
#: CIFAR-family model (digits or CIFAR-10), ProQHA's ImageNet ResNet-18 reads an ImageFolder
PROQHA_DATASET = {
    ("tiny_resnet", "digits"): "digits",
    ("tiny_resnet", "cifar10"): "cifar10",
    ("resnet18", "folder"): "imagenet",
}
#: the bit-widths the search can produce from 8 bits (``max(2, b - interval)``)
MIN_BITS, START_BITS = 2, 8


@dataclass(frozen=True)
class SearchEffort:
    """How much of ProQHA's schedule the benchmark runs (see the module docstring)."""

    baseline_epochs: int
    baseline_fraction: float
    lam: int
    interval: int
    max_rounds: int
    search_epochs: int
    search_fraction: float


FULL = SearchEffort(1, 1.0, 8, 1, 16, 1, 0.25)
QUICK = SearchEffort(1, 0.05, 2, 4, 8, 1, 0.05)
#: ``--effort paper``: ``scripts/search.sh`` (300-epoch 8-bit baseline, 25 rounds of lambda = 500 candidates,
#: interval 1, 30 fine-tuning epochs per round on all the data)
PAPER = SearchEffort(300, 1.0, 500, 1, 25, 30, 1.0)


def effort(ctx: Context) -> SearchEffort:
    """:data:`QUICK` for ``ctx.quick`` (tests), :data:`PAPER` for ``--effort paper``, else :data:`FULL`."""
    return QUICK if ctx.quick else PAPER if ctx.effort == "paper" else FULL


def candidate_bits(interval: int) -> list[int]:
    """The bit-widths lowering from 8 by ``interval`` (floor 2) can reach: ``max(2, 8 - k * interval)``."""
    return sorted({max(MIN_BITS, START_BITS - k * interval) for k in range(START_BITS)})


def proqha_dataset(arch: str, data: str) -> str | None:
    """ProQHA's ``--dataset`` for the benchmark's ``arch`` on ``data`` (:data:`PROQHA_DATASET`), or None."""
    return PROQHA_DATASET.get((arch, data_kind(data)))


def model_flags(ctx: Context) -> list[str]:
    """The flags naming the data (at the benchmark's side, ProQHA's ``--image_size`` addition) and the model."""
    dataset = proqha_dataset(ctx.arch, ctx.data)
    if dataset is None:
        raise ValueError(f"the ProQHA adapter cannot run {ctx.arch} on {ctx.data}")
    arch, layers = PROQHA_ARCH[ctx.arch]
    return [
        "--dataset", dataset, "--data_dir", ctx.data, "--arch", arch, "--num_layers", str(layers),
        "--image_size", str(ctx.image_size),
        "--workers", str(loader_workers(ctx)), "--eval_batch_size", "512", "--device", ctx.device, "--print_freq", "1000",
        *amp_flags(ctx),
    ]  # fmt: skip


def unsearched_layers(ctx: Context) -> list[str]:
    """The layers ProQHA keeps float (stem conv1, downsample convs, fc), in forward order."""
    quant = set(proqha_quant_layers(ctx.arch))
    return [layer.name for layer in ctx.layers if layer.name not in quant]


def cost_target(ctx: Context) -> float:
    """ProQHA ``--cost`` (weight-bits pairing) equal to the benchmark's weight-bit limit.

    ``C = (B_w - 8 sum_{l fixed} n_l) / (32 sum_{j quantized} n_j)`` with ``B_w`` the allowed sum of
    ``w_l n_l`` over every layer and the fixed layers (conv1, downsample convs, fc) at 8 bits.
    """
    fixed = {name: (PINNED_BITS, PINNED_BITS) for name in unsearched_layers(ctx)}
    weight_bits, _ = ctx.budget.remaining(ctx.layers, fixed)
    quant = set(proqha_quant_layers(ctx.arch))
    n = sum(layer.weight_params for layer in ctx.layers if layer.name in quant)
    return weight_bits / (32 * n)


def benchmark_kbits(kbits: list[int]) -> list[int]:
    """The ProQHA list the benchmark uses: the last PACT (it feeds the pinned fc) at 8 bits."""
    return [int(b) for b in kbits[:-1]] + [PINNED_BITS]


def benchmark_bitconfig(kbits: list[int], ctx: Context, source: str) -> BitConfig:
    """Every layer's bits for a searched ProQHA list (order W, A per block conv).

    Block conv j gets ``w = kbits[2j]`` and ``a = kbits[2j-1]`` (``layer1.0.conv1``: 8); the unsearched layers
    get W8A8. ``extra['proqha']`` keeps the list the file stands for (``kbits``) and the searched one.
    """
    used = benchmark_kbits(kbits)
    cfg = from_proqha(used, ctx.arch, order="WA", source=source)
    for name in unsearched_layers(ctx):
        cfg.layers[name] = LayerBits(PINNED_BITS, PINNED_BITS)
    first = proqha_quant_layers(ctx.arch)[0]
    cfg.layers[first] = LayerBits(cfg.layers[first].w, PINNED_BITS)
    cfg.num_classes, cfg.input_size = ctx.num_classes, ctx.image_size
    cfg.extra["proqha"]["searched_kbits"] = [int(b) for b in kbits]
    return cfg


def measure_config(cfg: BitConfig, ctx: Context) -> Measured:
    """The benchmark's average weight bits, size and BOPs of ``cfg`` (:func:`reproduce.compare.budget.measure`)."""
    return measure(ctx.layers, {name: (lb.w, lb.a) for name, lb in cfg.layers.items()})


class ProqhaMethod(Method):
    name = "proqha"
    label = "ProQHA"
    search_on_torchrun = True

    def unsupported(self, arch: str, data: str, image_size: int, num_classes: int) -> str | None:
        """ProQHA's post-activation ResNets only (:data:`PROQHA_ARCH`), each on its data family
        (:data:`PROQHA_DATASET`)."""
        if arch not in PROQHA_ARCH:
            return (
                f"the ProQHA adapter runs the post-activation ResNets whose float weights load by name "
                f"({', '.join(PROQHA_ARCH)}); ProQHA's {arch} differs or is missing"
            )
        if proqha_dataset(arch, data) is None:
            where = "an ImageFolder" if arch == "resnet18" else "digits or cifar10:PATH"
            return f"ProQHA's {arch} runs on {where} in the adapter (its --dataset fixes the model family)"
        return None

    def baseline_argv(self, ctx: Context, out: Path) -> list[str]:
        """``train.py``: the uniform 8-bit QAT start point (run.sh's second run)."""
        e = effort(ctx)
        return model_flags(ctx) + [
            "--archtype", "quant", "--k_bits", str(START_BITS), "--pre_k_bits", str(START_BITS), "--ratio", "1.0",
            "--lr", "0.001", "--weight_decay", "1e-4", "--momentum", "0.9", "--clip",
            "--train_batch_size", str(per_process_batch(ctx, ctx.recipe.batch_size)),
            "--train_epochs", str(e.baseline_epochs),
            "--train_fraction", str(e.baseline_fraction), "--resume", str(ctx.float_checkpoint),
            "--seed", str(ctx.seed), "--out", str(out), "--reset", *sync_bn_flags(ctx),
        ]  # fmt: skip

    def search_argv(self, ctx: Context, resume: Path, out: Path) -> list[str]:
        """``search.py``: rounds until ``--cost`` holds (weight-bits pairing); add ``--reset`` for a fresh run."""
        e = effort(ctx)
        return model_flags(ctx) + [
            "--base_data_dir", ctx.data, "--resume", str(resume), "--k_bits", str(START_BITS),
            "--step", str(e.max_rounds), "--lam", str(e.lam), "--interval", str(e.interval), "--ratio", "0.5",
            "--search_epochs", str(e.search_epochs), "--train_fraction", str(e.search_fraction),
            "--train_batch_size", str(per_process_batch(ctx, ctx.recipe.batch_size)), "--lr", "1e-3",
            "--cost", repr(cost_target(ctx)), "--enforce_cost", "--cost_pairing", "weight_bits",
            "--seed", str(ctx.seed), "--out", str(out), *sync_bn_flags(ctx),
        ]  # fmt: skip

    def search(self, ctx: Context, out: Path) -> SearchOutcome:
        from proqha.main import search as proqha_search
        from proqha.main import train as proqha_train

        e = effort(ctx)
        run_step(ctx, "proqha.main.train", self.baseline_argv(ctx, out / "baseline"), proqha_train.main)
        resume = out / "baseline" / "checkpoint" / "model_best.pt"
        if (
            not resume.is_file()
        ):  # train.py writes a best only when top-1 beats 0 (a near-chance smoke run may not)
            resume = resume.with_name("checkpoint.pt")
        argv = self.search_argv(ctx, resume, out / "search")
        run_step(ctx, "proqha.main.search", [*argv, "--reset"], proqha_search.main)
        last = out / "search" / "checkpoint" / "last.pt"
        while True:
            saved = load_checkpoint(last)
            kbits, rounds = [int(b) for b in saved["kbits"]], int(saved["step"]) + 1
            cfg = benchmark_bitconfig(kbits, ctx, f"ProQHA progressive search, round {rounds - 1}")
            met = within(measure_config(cfg, ctx), ctx.limits)
            if all(met.values()) or rounds >= e.max_rounds:
                break
            run_step(
                ctx, "proqha.main.search", argv, proqha_search.main
            )  # one more round: --enforce_cost stops it, its cost already holds
        got = measure_config(cfg, ctx)
        cfg.costs = {
            **got.as_dict(),
            "limits": ctx.limits.as_dict(),
            "within": met,
            "proqha_cost_target": cost_target(ctx),
            "rounds": rounds,
        }
        path = write_bitconfig(cfg, out / "bit_config.json")
        unmet = [k for k, ok in met.items() if not ok]
        n_quant = len(proqha_quant_layers(ctx.arch))
        notes = [
            f"--cost {cost_target(ctx):.4f} --cost_pairing weight_bits --enforce_cost (the weight-bit limit over "
            f"ProQHA's {n_quant} block convs once conv1/downsample/fc pay 8 bits); BOPs checked per round, search resumed "
            f"until met: {rounds} rounds of lam={e.lam}, interval {e.interval}"
            + (f"; NOT met: {', '.join(unmet)}" if unmet else ""),
            f"bits {candidate_bits(e.interval)} for the {2 * n_quant} W/A quantizers of the block convs; conv1, downsample, fc "
            "unsearched (float in ProQHA) at 8/8, as are the stem output and the PACT feeding fc",
        ]
        return SearchOutcome(path, notes)

    def finetune_argv(self, ctx: Context, bitconfig: Path, out: Path) -> list[str]:
        """``train.py --bits_file``: the searched bits trained from the float checkpoint with the recipe."""
        r = ctx.recipe
        argv = model_flags(ctx) + [
            "--archtype", "quant", "--bits_file", str(bitconfig), "--resume", str(ctx.float_checkpoint),
            "--train_epochs", "1" if ctx.quick else str(r.epochs),
            "--train_batch_size", str(per_process_batch(ctx, r.batch_size)),
            "--lr", str(r.lr), "--weight_decay", str(r.weight_decay), "--momentum", "0.9", "--clip",
            "--seed", str(r.seed), "--out", str(out), "--reset", *sync_bn_flags(ctx),
        ]  # fmt: skip
        if ctx.quick:
            argv += ["--train_fraction", "0.05"]
        return argv

    def finetune(self, ctx: Context, bitconfig: Path, out: Path) -> FinetuneOutcome:
        from proqha.main import train as proqha_train

        run_step(ctx, "proqha.main.train", self.finetune_argv(ctx, bitconfig, out), proqha_train.main)
        final = json.loads((out / "final.json").read_text(encoding="utf-8"))
        notes = [
            "ProQHA train.py: SGD momentum 0.9, lr x0.1 at 50%/75% of the epochs, grad-norm clip 5, DoReFa weights "
            "and PACT (alpha from 10); its model keeps conv1, downsample convs, fc and the stem output float",
        ]
        return FinetuneOutcome(float(final["last_top1"]), notes)


METHOD = ProqhaMethod()
