"""Action -> bit mapping and both budget walls against the original's outputs (env_golden)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haq.lib.env.budget import (
    BudgetError,
    action_to_bit,
    kmeans_budget_wall,
    kmeans_size,
    latency_cost,
    linear_budget_wall,
    minimum_latency,
    reference_latency,
)
from haq.strategies import MOBILENETV2_LINEAR_0_6, RESNET50_KMEANS_FINETUNE_PY, RESNET50_KMEANS_README

COST = json.loads((Path(__file__).resolve().parents[1] / "golden/haq/cost_golden.json").read_text())


@pytest.mark.parametrize("lo,hi", [(1, 8), (2, 8), (1, 6), (2, 6)])
def test_action_to_bit_matches_original(env_golden, lo, hi) -> None:
    z, _ = env_golden
    got = np.array([action_to_bit(a, lo, hi) for a in z["action_grid"]])
    np.testing.assert_array_equal(got, z[f"action_to_bit_min{lo}_max{hi}"])
    assert action_to_bit(0.0, 1, 8) == 0 and action_to_bit(0.25, 1, 8) == 2  # half-to-even, no clamp


def test_kmeans_wall_reproduces_every_case(env_golden) -> None:
    z, j = env_golden
    for case in j["kmeans_final_action_wall_resnet50"]:
        out = kmeans_budget_wall(
            case["input"], z["resnet50_wsize_list"], case["preserve_ratio"], case["min_bit"], 32
        )
        assert out == case["output"]
        ratio = kmeans_size(out, z["resnet50_wsize_list"]) / (32 * z["resnet50_wsize_list"].sum())
        assert ratio == pytest.approx(case["ratio_after"], abs=1e-12)


def test_linear_wall_reproduces_every_case(env_golden, latency_table) -> None:
    _, j = env_golden
    for case in j["linear_final_action_wall_qmobilenetv2_latency"]:
        out = linear_budget_wall(case["input"], latency_table, case["preserve_ratio"], case["min_bit"], 8)
        assert out == [list(p) for p in case["output"]]
        assert latency_cost(out, latency_table) <= case["preserve_ratio"] * reference_latency(latency_table)


def test_table_reference_and_minimum(env_golden, latency_table) -> None:
    _, j = env_golden
    assert reference_latency(latency_table, 8) == j["latency_table_org_cost_float_bit8"] == 39624933
    assert minimum_latency(latency_table, 2) == j["latency_table_min_cost_min_bit2"] == 8312597


def test_published_strategies_costs(env_golden, latency_table) -> None:
    z, _ = env_golden
    n = z["resnet50_wsize_list"]
    assert kmeans_size(RESNET50_KMEANS_README, n) / (32 * n.sum()) == pytest.approx(0.0995816, abs=1e-7)
    assert kmeans_size(RESNET50_KMEANS_FINETUNE_PY, n) / (32 * n.sum()) == pytest.approx(0.0988438, abs=1e-7)
    assert latency_cost(MOBILENETV2_LINEAR_0_6, latency_table) == 23433397
    assert COST["resnet50_kmeans"] and COST["mobilenetv2_linear_strategy"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 8), min_size=53, max_size=53),
    st.lists(st.integers(1, 8), min_size=53, max_size=53),
    st.floats(0.22, 1.0),
    st.booleans(),
)
def test_linear_wall_always_ends_within_budget(latency_table, ws, acts, ratio, pin) -> None:
    s = [list(p) for p in zip(ws, acts, strict=True)]
    before = latency_cost(s, latency_table)
    out = linear_budget_wall(s, latency_table, ratio, 2, 8, always_pin_first_last=pin)
    target = ratio * reference_latency(latency_table)
    assert latency_cost(out, latency_table) <= target
    ran = before > target
    if ran or pin:
        assert out[0] == [8, -1] and out[-1] == [8, 8]
    elif not pin:
        assert out == s


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 8), min_size=5, max_size=5), st.floats(0.01, 1.0))
def test_kmeans_wall_ends_within_budget_or_at_floor(bits, ratio) -> None:
    counts = [100, 2000, 30, 4000, 10]
    out = kmeans_budget_wall(bits, counts, ratio, 1, 32)
    assert kmeans_size(out, counts) <= ratio * 32 * sum(counts) or all(b <= 1 for b in out)


def test_unreachable_linear_budget_says_so(latency_table) -> None:
    s = [[8, 8]] * 53
    with pytest.raises(BudgetError, match="unreachable"):
        linear_budget_wall(s, latency_table, 0.15, 2, 8)
