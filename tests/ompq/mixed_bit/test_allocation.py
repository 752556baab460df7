"""SLSQP search tail, DFS rounding and projection against the original (lp/projection/dfs_bit goldens)."""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from ompq.mixed_bit.allocation import MIB, AllocationError, allocate, dfs_bit, projection

GOLDEN = Path(__file__).parents[2] / "golden" / "ompq"
LP = json.loads((GOLDEN / "lp_golden.json").read_text())
PROJ = json.loads((GOLDEN / "projection_golden.json").read_text())
CASES = [k for k in LP if not k.startswith("_")]
PARAMS = json.loads((GOLDEN / "cost_golden.json").read_text())["original_counters"]


def _inputs(case):
    p = np.array(case["params_count"]) / MIB if "params_count" in case else np.array(case["params_mib"])
    fl = case["first_last_params"] / MIB if "first_last_params" in case else case["first_last_mib"]
    return p, fl


@pytest.mark.parametrize("name", CASES)
def test_lp_golden(name):
    case = LP[name]
    p, fl = _inputs(case)
    rounding = "dfs" if case["rounding"] == "DFS_bit" else "around"
    res = allocate(case["theta"], p, case["model_size"], fl, case["quant_type"], rounding)
    np.testing.assert_allclose(res.coef, case["coef"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(res.x, case["slsqp_x"], rtol=0, atol=1e-8)
    assert res.bits == case["cfg"]
    assert res.size_mib == pytest.approx(case["size_MiB"], rel=1e-12)
    if case["dfs_best_gap"] is not None:
        assert res.dfs_gap == pytest.approx(case["dfs_best_gap"], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", list(PROJ))
def test_projection_golden(name):
    case = PROJ[name]
    counters = PARAMS[name]
    p = np.array(counters["params"]) / MIB
    fl = counters["first_last_params"] / MIB
    rounding = "dfs" if case["rounding"] == "DFS_bit" else "around"
    for variant, value in (("theta_zero", 0.0), ("theta_minus_one", -1.0)):
        res = allocate(np.full(len(p), value), p, case["model_size"], fl, case["quant_type"], rounding)
        np.testing.assert_allclose(res.x, case[variant]["slsqp_x"], rtol=0, atol=1e-8)
        assert res.bits == case[variant]["cfg"]
        assert (res.bits == case["shipped_cfg"]) == case[variant]["matches_shipped"]
    lam, x = projection(p, case["model_size"], fl, case["quant_type"])
    assert lam == pytest.approx(case["projection_lambda"], rel=1e-9)
    np.testing.assert_allclose(x, case["projection_x"], atol=1e-12)


@pytest.mark.parametrize("name", ["doc_example", "all_integral", "mixed"])
def test_dfs_bit_golden(name):
    case = json.loads((GOLDEN / "dfs_bit_golden.json").read_text())[name]
    ans, best = dfs_bit(case["value"], case["weight"])
    assert ans == case["ans"]
    assert best == pytest.approx(case["best"], abs=1e-12)


def test_milp_is_optimal_and_within_budget():
    case = LP["toy4_QAT"]
    p, fl = _inputs(case)
    res = allocate(case["theta"], p, case["model_size"], fl, "QAT", solver="milp")
    assert res.size_mib <= case["model_size"] + 1e-12
    coef = np.array(case["coef"])
    feasible = [
        np.array(b) for b in itertools.product(range(4, 9), repeat=4)
        if float(np.dot(b, p) / 8 + fl) <= case["model_size"] + 1e-12
    ]  # fmt: skip
    best = min(float(coef @ b / 8) for b in feasible)
    assert float(coef @ np.array(res.bits) / 8) == pytest.approx(best, abs=1e-12)


def test_budget_below_minimum_is_an_error():
    with pytest.raises(AllocationError, match="below the all-4-bit size"):
        allocate([-1.0, -1.0], [1.0, 1.0], 0.9, 0.0, "QAT")
