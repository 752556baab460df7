"""The HAQ adapter of the cross-method benchmark, in quick mode on digits from an untrained tiny_resnet."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from common.bitconfig import read_bitconfig
from common.models import build_model
from haq.lib.env.budget import latency_cost, reference_latency
from reproduce.compare.budget import Budget, bench_layers, measure, within
from reproduce.compare.method import Context, Recipe
from reproduce.compare.methods import load_method
from reproduce.compare.methods.haq import MAX_BIT, MIN_BIT, preserve_ratio, stem_gap


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    root = tmp_path_factory.mktemp("haq_compare")
    torch.manual_seed(0)
    ckpt = root / "float.pth.tar"
    torch.save({"state_dict": build_model("tiny_resnet", 10).state_dict()}, ckpt)
    layers = bench_layers("tiny_resnet", 32, 10)
    budget = Budget()
    return Context(
        "tiny_resnet",
        "digits",
        32,
        10,
        ckpt,
        budget,
        layers,
        budget.limits(layers),
        Recipe(),
        seed=1,
        quick=True,
    )


@pytest.fixture(scope="module")
def searched(ctx: Context, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("haq_search")
    outcome = load_method("haq").search(ctx, out)
    return outcome.bitconfig, outcome.notes


def test_preserve_ratio_turns_the_bops_limit_into_haqs_latency_budget() -> None:
    macs = np.array([10, 200, 300, 5], dtype=np.int64)
    bits = np.arange(1, 9)
    table = macs[:, None, None] * np.outer(bits, bits)[None]
    limit = 64 * (10 + 5) + 16 * (200 + 300)  # first/last at 8/8, the rest at 4/4
    ratio = preserve_ratio(float(limit), table)
    assert stem_gap(table) == 8 * 10
    # HAQ's cost of the same model (stem at [8, -1] -> 7-bit column) is exactly its target
    haq_cost = latency_cost([[8, -1], [4, 4], [4, 4], [8, 8]], table)
    assert haq_cost == pytest.approx(ratio * reference_latency(table, 8), rel=1e-12)


def test_search_writes_a_pinned_config_within_the_bops_limit(ctx: Context, searched) -> None:
    path, notes = searched
    assert path.name == "bit_config.json" and path.is_file()
    cfg = read_bitconfig(path)
    assert cfg.arch == "tiny_resnet" and cfg.method == "haq"
    assert list(cfg.layers) == [l.name for l in ctx.layers]
    assert (cfg.layers["conv1"].w, cfg.layers["conv1"].a) == (8, 8)
    assert (cfg.layers["fc"].w, cfg.layers["fc"].a) == (8, 8)
    for lb in cfg.layers.values():
        assert MIN_BIT <= lb.w <= MAX_BIT and MIN_BIT <= lb.a <= MAX_BIT
    bits = {n: (lb.w, lb.a) for n, lb in cfg.layers.items()}
    measured = measure(ctx.layers, bits)
    assert within(measured, ctx.limits)["GBOPs"]
    assert cfg.costs["GBOPs"] == pytest.approx(measured.gbops, rel=1e-12)
    assert len(notes) == 2 and "preserve_ratio" in notes[0]


def test_searched_strategy_costs_are_the_benchmark_bops(ctx: Context, searched) -> None:
    path, _ = searched
    cfg = read_bitconfig(path)
    table = np.load(path.parent / "bops_table.npy")
    macs = np.array([l.macs for l in ctx.layers], dtype=np.int64)
    assert (
        table.dtype == np.int64
        and (table[:, 7, 7] == 64 * macs).all()
        and (table[:, 2, 4] == 15 * macs).all()
    )
    strategy = cfg.extra["haq"]["strategy"]
    assert strategy[0] == [8, -1] and strategy[-1] == [8, 8]  # HAQ's own pinning
    haq_cost = latency_cost(strategy, table)
    ratio = preserve_ratio(ctx.limits.gbops * 1e9, table)
    assert haq_cost <= ratio * reference_latency(table, 8)
    assert haq_cost + stem_gap(table) == pytest.approx(cfg.costs["GBOPs"] * 1e9, rel=1e-12)


def test_finetune_returns_the_last_val_accuracy(ctx: Context, searched, tmp_path: Path) -> None:
    path, _ = searched
    outcome = load_method("haq").finetune(ctx, path, tmp_path)
    assert 0.0 <= outcome.acc1 <= 100.0 and outcome.notes
    with open(tmp_path / "epochs.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 and float(rows[-1]["val_acc"]) == pytest.approx(outcome.acc1)
    assert (tmp_path / "checkpoint.pth.tar").is_file()
    written = read_bitconfig(tmp_path / "bitconfig.json")
    assert written.layers["layer2.0.conv1"].w == read_bitconfig(path).layers["layer2.0.conv1"].w
