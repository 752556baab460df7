"""The HMQ adapter of the cross-method benchmark: budget translation, quick search and fine-tune on digits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from common.bitconfig import BitConfig, LayerBits, read_bitconfig
from common.models import build_model
from reproduce.compare.budget import Budget, bench_layers, measure, within
from reproduce.compare.method import Context, Recipe
from reproduce.compare.methods import load_method
from reproduce.compare.methods.hmq import (
    BITS_LIST,
    activation_bits,
    benchmark_bitconfig,
    target_compression,
)

ARCH = "tiny_resnet"


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _context(checkpoint: Path, budget: Budget | None = None, quick: bool = True) -> Context:
    budget = budget or Budget()
    layers = bench_layers(ARCH, 32, 10)
    return Context(
        ARCH, "digits", 32, 10, checkpoint, budget, layers, budget.limits(layers), Recipe(), quick=quick
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained tiny_resnet in the baseline's {"state_dict": ...} layout (torchvision names)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("float") / "checkpoint.pth.tar"
    torch.save({"state_dict": build_model(ARCH, 10).state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def searched(checkpoint: Path, tmp_path_factory):
    torch.set_num_threads(1)
    ctx = _context(checkpoint)
    out = tmp_path_factory.mktemp("hmq_search")
    return ctx, load_method("hmq").search(ctx, out)


def test_target_compression_is_32_over_the_allowed_average_bits(checkpoint: Path) -> None:
    ctx = _context(checkpoint)
    # HMQ counts every layer of tiny_resnet, like the benchmark
    assert target_compression(ctx) == pytest.approx(32 / ctx.limits.avg_wbits)
    assert target_compression(_context(checkpoint, Budget(wbits=3.0))) > target_compression(ctx)


def test_activation_bits_meet_the_bops_limit(checkpoint: Path) -> None:
    ctx = _context(checkpoint)
    assert activation_bits(ctx) == 4  # the reference model is W4.5A4.5: 4 fits, 5 does not
    all8 = {layer.name: 8 for layer in ctx.layers}
    a = activation_bits(ctx, all8)
    assert a == 2  # W8 everywhere needs a <= 20.25 / 8
    pinned = {ctx.layers[0].name, ctx.layers[-1].name}
    bits = {n: (w, 8 if n in pinned else a) for n, w in all8.items()}
    assert measure(ctx.layers, bits).gbops <= ctx.limits.gbops


def test_benchmark_bitconfig_pins_first_and_last(checkpoint: Path) -> None:
    ctx = _context(checkpoint)
    names = [layer.name for layer in ctx.layers]
    hmq = BitConfig(
        ARCH, {n: LayerBits(3, 32 if n in ("conv1", "fc") else 4, {"threshold": 0.5}) for n in names}
    )
    cfg = benchmark_bitconfig(hmq, ctx.layers, "test")
    assert (cfg.layers["conv1"].w, cfg.layers["conv1"].a) == (8, 8)
    assert (cfg.layers["fc"].w, cfg.layers["fc"].a) == (8, 8)
    assert (cfg.layers["layer2.0.conv1"].w, cfg.layers["layer2.0.conv1"].a) == (3, 4)
    assert cfg.layers["layer2.0.conv1"].extra["threshold"] == 0.5


def test_quick_search_writes_a_valid_config_within_the_limits(searched) -> None:
    ctx, outcome = searched
    assert outcome.bitconfig.name == "bit_config.json" and outcome.notes
    cfg = read_bitconfig(outcome.bitconfig)
    assert cfg.method == "hmq" and cfg.arch == ARCH
    assert list(cfg.layers) == [layer.name for layer in ctx.layers]
    assert (cfg.layers["conv1"].w, cfg.layers["conv1"].a) == (8, 8)
    assert (cfg.layers["fc"].w, cfg.layers["fc"].a) == (8, 8)
    assert all(lb.w in BITS_LIST for lb in cfg.layers.values())
    inner = [lb.a for n, lb in cfg.layers.items() if n not in ("conv1", "fc")]
    assert len(set(inner)) == 1 and 2 <= inner[0] <= 8  # one fixed activation bit-width
    bits = {n: (lb.w, lb.a) for n, lb in cfg.layers.items()}
    got = measure(ctx.layers, bits)
    assert within(got, ctx.limits) == {"avg_wbits": True, "GBOPs": True}
    assert cfg.costs["avg_wbits"] == pytest.approx(got.avg_wbits)
    # HMQ's own record of the same search agrees on the weight bits
    own = read_bitconfig(outcome.bitconfig.parent / "hmq_search" / "bitconfig.json")
    assert {n: lb.w for n, lb in own.layers.items()} == {n: lb.w for n, lb in cfg.layers.items()}


def test_quick_finetune_keeps_the_searched_bits(searched, tmp_path: Path) -> None:
    ctx, outcome = searched
    result = load_method("hmq").finetune(ctx, outcome.bitconfig, tmp_path)
    assert 0.0 <= result.acc1 <= 100.0 and result.notes
    final = json.loads((tmp_path / "final.json").read_text())
    assert final["top1_last"] == pytest.approx(result.acc1)
    tuned = read_bitconfig(tmp_path / "bitconfig.json")
    cfg = read_bitconfig(outcome.bitconfig)
    assert {n: lb.w for n, lb in tuned.layers.items()} == {n: lb.w for n, lb in cfg.layers.items()}
    for name, lb in tuned.layers.items():
        if lb.a < 32:  # activations HMQ quantizes keep the searched bits
            assert lb.a == cfg.layers[name].a
        assert lb.extra["threshold"] == pytest.approx(cfg.layers[name].extra["threshold"])
