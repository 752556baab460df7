"""The HMQ block against golden/hmq/hmq_block.npz and pow2_threshold.npz (rtol = atol = 1e-5)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hmq.block import HMQ, HmqControl, initial_search_matrix, weight_base_threshold

TOL = {"rtol": 1e-5, "atol": 1e-5}
WEIGHT_CASES = ["conv", "conv_nonefficient", "dwconv", "fc"]
ACT_CASES = ["act_relu", "act_relu6", "act_identity", "act_identity_2d"]


def _fixed_noise(u: torch.Tensor):
    def draw(shape, device):
        assert tuple(shape) == tuple(u.shape)
        return u.clone()

    return draw


def _weight_block(g, meta, case):
    control = HmqControl(temperature=meta["temperature"], efficient=meta["efficient_quantizer"])
    control.uniform = _fixed_noise(g[f"{case}_u"])
    block = HMQ(control, signed=True, bits_list=meta["bits_list"], weight=g[f"{case}_w"])
    assert float(block.base_thresholds) == meta["base_threshold"]
    block.search_matrix.data.copy_(g[f"{case}_search_matrix"])
    return block


@pytest.mark.parametrize("case", WEIGHT_CASES)
def test_weight_block_soft_and_hard(golden, golden_meta, case) -> None:
    g, meta = golden("hmq_block"), golden_meta["hmq_block"][case]
    block = _weight_block(g, meta, case)
    w = g[f"{case}_w"].clone().requires_grad_(True)
    block.train()
    p, delta, q = block.soft_parameters(w)
    torch.testing.assert_close(p, g[f"{case}_p"], **TOL)
    torch.testing.assert_close(delta, g[f"{case}_delta"], **TOL)
    torch.testing.assert_close(q, g[f"{case}_q_points"], **TOL)
    y = block(w)
    torch.testing.assert_close(y, g[f"{case}_y"], **TOL)
    (y * g[f"{case}_upstream"]).sum().backward()
    torch.testing.assert_close(w.grad, g[f"{case}_grad_w"], **TOL)
    torch.testing.assert_close(block.search_matrix.grad, g[f"{case}_grad_search_matrix"], **TOL)
    block.eval()
    torch.testing.assert_close(block(w.detach()), g[f"{case}_y_hard"], **TOL)
    assert block.bit_width() == meta["hard_bits"]
    assert block.threshold() == meta["hard_threshold"]
    assert float(block.expected_bits().detach()) == pytest.approx(meta["expected_bits(no noise)"], rel=1e-6)


def _apply_nl(case: str, x: torch.Tensor) -> torch.Tensor:
    return F.relu6(x) if case == "act_relu6" else x  # ReLU is not applied: the unsigned clip does it


@pytest.mark.parametrize("case", ACT_CASES)
def test_activation_block_soft_and_hard(golden, golden_meta, case) -> None:
    g, meta = golden("hmq_block"), golden_meta["hmq_block"][case]
    control = HmqControl(temperature=meta["temperature"])
    control.uniform = _fixed_noise(g[f"{case}_u"])
    block = HMQ(control, signed=bool(meta["is_signed"]))
    block.set_bits([meta["bits"]])
    block.base_thresholds.fill_(meta["base_threshold"])
    block.search_matrix.data.copy_(g[f"{case}_search_matrix"])
    x = g[f"{case}_x"].clone().requires_grad_(True)
    block.train()
    p, delta, q = block.soft_parameters(x)
    torch.testing.assert_close(p, g[f"{case}_p"], **TOL)
    torch.testing.assert_close(delta, g[f"{case}_delta"], **TOL)
    torch.testing.assert_close(q, g[f"{case}_q_points"], **TOL)
    y = block(_apply_nl(case, x))
    torch.testing.assert_close(y, g[f"{case}_y"], **TOL)
    (y * g[f"{case}_upstream"]).sum().backward()
    torch.testing.assert_close(x.grad, g[f"{case}_grad_x"], **TOL)
    torch.testing.assert_close(block.search_matrix.grad, g[f"{case}_grad_search_matrix"], **TOL)
    block.eval()
    torch.testing.assert_close(block(_apply_nl(case, x.detach())), g[f"{case}_y_hard"], **TOL)
    assert block.threshold() == meta["hard_threshold"]
    assert float(block.hard_parameters()[0]) == meta["hard_delta"]


@pytest.mark.parametrize("i", range(6))
def test_weight_threshold_candidates(golden, golden_meta, i) -> None:
    meta = golden_meta["pow2_threshold"]["weights"][i]
    w = golden("pow2_threshold")[meta["key"]]
    assert weight_base_threshold(w) == meta["init_base_threshold"]
    block = HMQ(HmqControl(), signed=True, weight=w)
    assert block.thresholds().tolist() == meta["threshold_candidates"]


def test_activation_statistics_iir(golden, golden_meta) -> None:
    g, meta = golden("pow2_threshold"), golden_meta["pow2_threshold"]["activation_iir"]
    control = HmqControl(statistics=True)
    block = HMQ(control, signed=False).eval()
    block.search_matrix.data.copy_(g["search_matrix_act"])
    for k in range(5):
        y = block(g[f"act_x{k}"])
        assert float(block.base_thresholds) == pytest.approx(meta["base_after_each_batch"][k], rel=1e-6)
        assert float(block.thresholds()[0]) == meta["max_threshold_after_each_batch"][k]
        torch.testing.assert_close(y, g[f"act_y{k}"], **TOL)
    assert int(block.tensor_size) == meta["tensor_size"]
    control.statistics = False
    before = float(block.base_thresholds)
    block(g["act_x1"] * 10)
    assert float(block.base_thresholds) == before


def test_search_matrix_initialisation(golden_meta) -> None:
    meta = golden_meta["search_matrix_init"]
    import numpy as np

    np.random.seed(0)
    sm = initial_search_matrix(8, 8)
    torch.testing.assert_close(sm[0, :, :, 0], torch.tensor(meta["np_seed0_weight_search_matrix"]), **TOL)
    for key, rows in (("weights", 8), ("activations", 1), ("weights_4bits", 4)):
        first = float(initial_search_matrix(rows, 8)[0, 0, 0, 0])
        assert first == pytest.approx(meta[key]["first_entry_logit"], rel=1e-6)
