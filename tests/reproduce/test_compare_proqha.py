"""The ProQHA adapter of the cross-method benchmark: quick search and fine-tune on digits, budget translation."""

from __future__ import annotations

import json

import pytest
import torch

from common.bitconfig import read_bitconfig
from common.models import build_model
from common.runtime import save_checkpoint
from reproduce.compare.budget import Budget, bench_layers, measure, within
from reproduce.compare.method import Context, Recipe
from reproduce.compare.methods import load_method
from reproduce.compare.methods import proqha as adapter

BLOCK_CONVS = [f"layer{s}.0.conv{k}" for s in range(1, 5) for k in (1, 2)]
UNSEARCHED = ["conv1", "layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0", "fc"]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> Context:
    """A quick context over an untrained ``tiny_resnet`` saved in the baseline's ``{"state_dict": ...}`` layout."""
    root = tmp_path_factory.mktemp("proqha_compare")
    torch.manual_seed(0)
    ckpt = root / "float.pth.tar"
    save_checkpoint({"state_dict": build_model("tiny_resnet", 10).state_dict()}, ckpt)
    layers = bench_layers("tiny_resnet", 32, 10)
    budget = Budget()
    recipe = Recipe(epochs=1, batch_size=32, lr=1e-3, seed=0)
    return Context(
        "tiny_resnet", "digits", 32, 10, ckpt, budget, layers, budget.limits(layers), recipe, quick=True
    )


@pytest.fixture(scope="module")
def single_thread():
    """The shared 2-core machine is oversubscribed; one intra-op thread keeps the runs fast."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def searched(ctx, single_thread, tmp_path_factory):
    out = tmp_path_factory.mktemp("proqha_search")
    return load_method("proqha").search(ctx, out), out


def test_method_identity() -> None:
    m = load_method("proqha")
    assert m.name == "proqha" and m.label == "ProQHA" and m is adapter.METHOD


def test_cost_target_is_the_weight_bit_limit(ctx) -> None:
    """Block convs at exactly ``32 C`` bits plus the unsearched layers at 8 bits fill the size limit."""
    c = adapter.cost_target(ctx)
    info = {layer.name: layer for layer in ctx.layers}
    assert adapter.unsearched_layers(ctx) == UNSEARCHED
    n_blocks = sum(info[n].weight_params for n in BLOCK_CONVS)
    n_fixed = sum(info[n].weight_params for n in UNSEARCHED)
    assert n_blocks == 294912 and n_fixed == 12464
    total_bits = 32 * c * n_blocks + 8 * n_fixed
    assert total_bits == pytest.approx(ctx.limits.size_kb * 8000, rel=1e-12)
    assert c == pytest.approx((173.648 * 8000 - 8 * 12464) / (32 * 294912), rel=1e-12)


def test_benchmark_bitconfig_mapping(ctx) -> None:
    kbits = [5, 4, 6, 3, 7, 2, 4, 5, 3, 6, 2, 7, 8, 4, 3, 2]
    cfg = adapter.benchmark_bitconfig(kbits, ctx, "test")
    got = {n: (lb.w, lb.a) for n, lb in cfg.layers.items()}
    assert got["layer1.0.conv1"] == (5, 8)  # the stem output is float in ProQHA: written at 8
    assert got["layer1.0.conv2"] == (6, 4)  # w = position 2, a = position 1 (the PACT after conv j-1)
    assert got["layer2.0.conv1"] == (7, 3)
    assert got["layer4.0.conv2"] == (3, 4)
    assert all(got[n] == (8, 8) for n in UNSEARCHED)
    assert cfg.extra["proqha"]["kbits"] == kbits[:-1] + [8]  # the PACT feeding the pinned fc
    assert cfg.extra["proqha"]["searched_kbits"] == kbits
    assert adapter.candidate_bits(1) == [2, 3, 4, 5, 6, 7, 8] and adapter.candidate_bits(4) == [2, 4, 8]


def test_quick_search_meets_the_budget(ctx, searched) -> None:
    outcome, out = searched
    assert outcome.bitconfig == out / "bit_config.json" and outcome.bitconfig.is_file()
    assert outcome.notes and "--cost" in outcome.notes[0] and "NOT met" not in outcome.notes[0]
    cfg = read_bitconfig(outcome.bitconfig)
    assert cfg.arch == "tiny_resnet" and cfg.method == "proqha"
    assert set(cfg.layers) == {layer.name for layer in ctx.layers}
    bits = {n: (lb.w, lb.a) for n, lb in cfg.layers.items()}
    assert all(bits[n] == (8, 8) for n in UNSEARCHED)
    allowed = set(adapter.candidate_bits(adapter.QUICK.interval))
    assert all(bits[n][0] in allowed and bits[n][1] in allowed for n in BLOCK_CONVS)
    assert min(bits[n][0] for n in BLOCK_CONVS) < 8  # the search lowered something
    got = measure(ctx.layers, bits)
    assert within(got, ctx.limits) == {"avg_wbits": True, "GBOPs": True}
    assert cfg.costs["avg_wbits"] == pytest.approx(got.avg_wbits)
    # the file matches ProQHA's own last round: weight bits at the even positions of its list
    saved = torch.load(out / "search" / "checkpoint" / "last.pt", weights_only=True)
    assert [bits[n][0] for n in BLOCK_CONVS] == [int(b) for b in saved["kbits"][0::2]]
    assert cfg.costs["rounds"] == int(saved["step"]) + 1
    log = (out / "search" / "search_log.csv").read_text().splitlines()
    assert len(log) == cfg.costs["rounds"] + 1
    # ProQHA's own cost (weight-bits pairing) of that round is within --cost
    final = json.loads((out / "search" / "final.json").read_text())
    assert final["cost_weight_bits"] <= adapter.cost_target(ctx) + 1e-12


def test_quick_finetune_reads_the_bits(ctx, searched, single_thread, tmp_path) -> None:
    outcome, _ = searched
    result = load_method("proqha").finetune(ctx, outcome.bitconfig, tmp_path)
    assert 0.0 <= result.acc1 <= 100.0 and result.notes
    final = json.loads((tmp_path / "final.json").read_text())
    assert final["last_top1"] == pytest.approx(result.acc1)
    cfg = read_bitconfig(outcome.bitconfig)
    assert final["kbits"] == cfg.extra["proqha"]["kbits"]  # train.py trained exactly the file's list
    assert (tmp_path / "epochs.csv").is_file() and (tmp_path / "bitconfig.json").is_file()
    argv = load_method("proqha").finetune_argv(ctx, outcome.bitconfig, tmp_path)
    assert argv[argv.index("--lr") + 1] == "0.001" and argv[argv.index("--train_batch_size") + 1] == "32"


def test_rejects_other_models(ctx) -> None:
    """Only the post-activation ResNets whose float weights load by name, each on its ProQHA data family."""
    from dataclasses import replace

    with pytest.raises(ValueError, match="cannot run resnet18 on digits"):
        adapter.model_flags(replace(ctx, arch="resnet18"))
    method = load_method("proqha")
    assert method.unsupported("tiny_resnet", "digits", 32, 10) is None
    assert method.unsupported("tiny_resnet", "cifar10:/x", 32, 10) is None
    assert method.unsupported("resnet18", "/data/imagenet", 224, 1000) is None
    assert "ImageFolder" in method.unsupported("resnet18", "digits", 32, 10)
    assert "digits or cifar10" in method.unsupported("tiny_resnet", "/data/imagenet", 224, 1000)
    assert "post-activation" in method.unsupported("resnet20", "cifar10:/x", 32, 10)


def test_notes_are_short(searched) -> None:
    outcome, _ = searched
    assert 1 <= len(outcome.notes) <= 2 and all(len(n) < 400 for n in outcome.notes)


def test_tiny_resnet_on_cifar10_searches_with_proqhas_cifar10_dataset(ctx, single_thread, tmp_path) -> None:
    """``cifar10:PATH`` data: ProQHA's ``--dataset cifar10`` (its CIFAR transforms) at the benchmark's 32 px; the
    quick search meets the budget on random CIFAR-10 pickles."""
    from dataclasses import replace

    from fake_data import fake_cifar10

    cifar = replace(ctx, data=f"cifar10:{fake_cifar10(tmp_path / 'data', per_batch=16)}")
    flags = adapter.model_flags(cifar)
    assert flags[flags.index("--dataset") + 1] == "cifar10" and flags[flags.index("--image_size") + 1] == "32"
    outcome = load_method("proqha").search(cifar, tmp_path / "search")
    cfg = read_bitconfig(outcome.bitconfig)
    assert all(within(adapter.measure_config(cfg, cifar), cifar.limits).values())


def test_image_size_sets_proqhas_side() -> None:
    """ProQHA's ``--image_size`` addition: the ImageNet family's 224 and the CIFAR family's 32 unless given."""
    from proqha.data import preset_of

    assert preset_of("imagenet") == ("proqha", 224) and preset_of("imagenet", 64) == ("proqha", 64)
    assert preset_of("cifar10") == ("cifar_proqha", 32) and preset_of("digits", 48) == ("digits", 48)
