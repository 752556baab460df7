"""The benchmark's budget and cost model (reproduce/compare/budget.py)."""

from __future__ import annotations

import pytest

from common.cost import evaluate_cost
from common.data.embedded import DigitsDataset
from reproduce.compare.budget import Budget, bench_layers, measure, pinned_layers, within

LAYERS = bench_layers("tiny_resnet", 32, 10)


def test_pinned_layers_are_first_conv_and_fc() -> None:
    assert pinned_layers(LAYERS) == ("conv1", "fc")


def test_measure_counts_weights_and_bops_by_hand() -> None:
    bits = {l.name: (4, 4) for l in LAYERS}
    bits["conv1"] = bits["fc"] = (8, 8)
    got = measure(LAYERS, bits)
    n = {l.name: l.weight_params for l in LAYERS}
    total = sum(n.values())
    expect_bits = 8 * (n["conv1"] + n["fc"]) + 4 * (total - n["conv1"] - n["fc"])
    assert got.avg_wbits == pytest.approx(expect_bits / total)
    assert got.size_kb == pytest.approx(expect_bits / 8000)
    # the BOPs are those of the HAWQ-V3 convention (MACs * w * a over the same layers)
    hawq = evaluate_cost("tiny_resnet", "hawq", layer_bits=bits).totals["GBOPs"]
    assert got.gbops == pytest.approx(hawq)


def test_measure_names_missing_layers() -> None:
    with pytest.raises(ValueError, match="fc"):
        measure(LAYERS, {l.name: (4, 4) for l in LAYERS[:-1]})


def test_budget_limits_are_the_reference_costs_and_remaining_adds_up() -> None:
    budget = Budget(5, 6)
    ref = {l.name: (5, 6) for l in LAYERS}
    ref["conv1"] = ref["fc"] = (8, 8)
    lim = budget.limits(LAYERS)
    assert lim == measure(LAYERS, ref)
    fixed = {"conv1": (8, 8), "fc": (8, 8)}
    w_left, ops_left = budget.remaining(LAYERS, fixed)
    rest = [l for l in LAYERS if l.name not in fixed]
    assert w_left == pytest.approx(sum(5 * l.weight_params for l in rest))
    assert ops_left == pytest.approx(sum(30 * l.macs for l in rest))


def test_within_checks_each_limit() -> None:
    lim = Budget(4.5, 4.5).limits(LAYERS)
    low = {l.name: (4, 4) for l in LAYERS}
    assert within(measure(LAYERS, low), lim) == {"avg_wbits": True, "GBOPs": True}
    wide_acts = {l.name: (4, 8) for l in LAYERS}
    assert within(measure(LAYERS, wide_acts), lim) == {"avg_wbits": True, "GBOPs": False}


def test_digits_dataset_counts_served_items() -> None:
    ds = DigitsDataset("val", image_size=8)
    before = DigitsDataset.served
    for i in range(5):
        ds[i]
    assert DigitsDataset.served - before == 5
