"""The OMPQ adapter of the cross-method benchmark (reproduce/compare/methods/ompq.py)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from common.bitconfig import read_bitconfig
from common.cost.conventions.ompq import ompq_params
from common.cost.counters import MIB
from common.data.embedded import DigitsDataset
from common.models import build_model
from reproduce.compare.budget import Budget, bench_layers, measure, within
from reproduce.compare.method import Context, Recipe
from reproduce.compare.methods import load_method
from reproduce.compare.methods.ompq import (
    QUICK_SEARCH_IMAGES,
    WEIGHT_BITS,
    plan_search,
    searchable_groups,
    worst_case_macs_bits,
)

LAYERS = bench_layers("tiny_resnet", 32, 10)


DEFAULT_BUDGET = Budget()


def make_ctx(checkpoint: Path, budget: Budget = DEFAULT_BUDGET, quick: bool = True) -> Context:
    return Context(
        "tiny_resnet",
        "digits",
        32,
        10,
        checkpoint,
        budget,
        LAYERS,
        budget.limits(LAYERS),
        Recipe(),
        quick=quick,
    )


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: two threads on the shared 2-core test machine are several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny_resnet in the baseline's {"state_dict": ...} layout (torchvision names)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("float") / "checkpoint.pth.tar"
    torch.save({"state_dict": build_model("tiny_resnet", 10).state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def searched(
    checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Context, Path, list[str], int]:
    ctx = make_ctx(checkpoint)
    before = DigitsDataset.served
    outcome = load_method("ompq").search(ctx, tmp_path_factory.mktemp("search"))
    return ctx, outcome.bitconfig, outcome.notes, DigitsDataset.served - before


def test_method_identity() -> None:
    method = load_method("ompq")
    assert (method.name, method.label) == ("ompq", "OMPQ")


def test_worst_case_matches_brute_force() -> None:
    macs = np.array([9.0, 4.0, 7.0, 1.0])
    params = np.array([3.0, 1.0, 5.0, 2.0])
    budget = 5.5 * params.sum()
    best = max(
        float(np.dot(macs, b))
        for b in itertools.product(range(WEIGHT_BITS[0], WEIGHT_BITS[1] + 1), repeat=4)
        if np.dot(params, b) <= budget
    )
    assert worst_case_macs_bits(macs, params, budget) == pytest.approx(best)


def test_plan_translates_the_budget_into_ompq_units(checkpoint: Path) -> None:
    ctx = make_ctx(checkpoint)
    plan = plan_search(ctx)
    groups, fixed = searchable_groups(ctx)
    assert fixed == ("conv1", "fc")
    assert sorted(n for g in groups for n in g) == sorted(l.name for l in LAYERS if l.name not in fixed)
    # size by hand: searched layers at 4.5 bits, conv1/fc at 8, with BN gamma/beta and the fc bias counted
    by_hand = sum((8 if l.name in fixed else 4.5) * ompq_params(l) for l in LAYERS) / 8 / MIB
    assert plan.model_size_mb == pytest.approx(by_hand, rel=1e-12)
    assert plan.model_size_mb == pytest.approx(0.1663990020751953, rel=1e-9)
    # 4-bit activations can overshoot the BOPs (8-bit weights on the MAC-heavy early layers); 3 cannot
    assert plan.abits == 3 and plan.bops_guaranteed
    assert plan.worst_bops <= ctx.limits.gbops * 1e9
    assert plan.worst_bops > ctx.limits.gbops * 1e9 * 3 / 4


def test_plan_at_eight_bits_allows_eight_bit_activations(checkpoint: Path) -> None:
    plan = plan_search(make_ctx(checkpoint, Budget(8, 8)))
    assert plan.abits == 8 and plan.bops_guaranteed


def test_search_writes_a_valid_pinned_config_within_the_budget(
    searched: tuple[Context, Path, list[str], int],
) -> None:
    ctx, path, notes, images = searched
    assert path.name == "bit_config.json" and path.is_file()
    cfg = read_bitconfig(path)
    assert cfg.method == "ompq" and cfg.arch == "tiny_resnet"
    assert set(cfg.layers) == {l.name for l in LAYERS}
    assert (cfg.layers["conv1"].w, cfg.layers["conv1"].a) == (8, 8)
    assert (cfg.layers["fc"].w, cfg.layers["fc"].a) == (8, 8)
    plan = plan_search(ctx)
    for name, bits in cfg.layers.items():
        if name not in ("conv1", "fc"):
            assert WEIGHT_BITS[0] <= bits.w <= WEIGHT_BITS[1], name
            assert bits.a == plan.abits, name
    # conv2 and the downsample of a block share one searched bit
    for block in ("layer2.0", "layer3.0", "layer4.0"):
        assert cfg.layers[f"{block}.conv2"].w == cfg.layers[f"{block}.downsample.0"].w
    # OMPQ's own limit (size in its counting) and the benchmark's two limits
    size = sum(cfg.layers[l.name].w * ompq_params(l) for l in LAYERS) / 8 / MIB
    assert size <= plan.model_size_mb
    assert cfg.costs["size_Mb"] == pytest.approx(size, rel=1e-12)
    got = measure(LAYERS, {n: (b.w, b.a) for n, b in cfg.layers.items()})
    assert within(got, ctx.limits) == {"avg_wbits": True, "GBOPs": True}
    assert images == QUICK_SEARCH_IMAGES
    assert 1 <= len(notes) <= 2 and "--model_size" in notes[0]
    assert (
        path.parent / "base" / "checkpoint" / "model_best.pth.tar"
    ).resolve() == ctx.float_checkpoint.resolve()


def test_finetune_returns_accuracy_and_writes_outputs(
    searched: tuple[Context, Path, list[str], int], tmp_path: Path
) -> None:
    ctx, path, _, _ = searched
    out = tmp_path / "ft"
    outcome = load_method("ompq").finetune(ctx, path, out)
    assert 0.0 <= outcome.acc1 <= 100.0
    assert outcome.notes and "cosine" in outcome.notes[0]
    final = json.loads((out / "final.json").read_text())
    assert final["val_acc1"] == pytest.approx(outcome.acc1)
    assert final["bit_config"] and (out / "quantized_checkpoint.pth.tar").is_file()
    args = json.loads((out / "args.json").read_text())
    assert args["epochs"] == 1 and args["lr"] == ctx.recipe.lr and args["batch_size"] == ctx.recipe.batch_size
    assert args["fix_BN"] is True and args["data_percentage"] == 0.05
    trained = read_bitconfig(out / "bit_config.json")
    assert {n: (b.w, b.a) for n, b in trained.layers.items()} == {
        n: (b.w, b.a) for n, b in read_bitconfig(path).layers.items()
    }
