"""Invariants of the HMQ block (hypothesis) and the RAdam choice (golden/hmq/radam.npz)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hmq.block import HMQ, HmqControl
from hmq.compression import expected_weight_compression
from hmq.modules import attach_weight_hmq
from hmq.train import build_optimizers

BITS = (8, 7, 6, 5, 4, 3, 2, 1)


def _saturated(block: HMQ, b: int, t: int) -> None:
    sm = torch.zeros_like(block.search_matrix)
    sm[0, b, t, 0] = 1e4
    block.search_matrix.data.copy_(sm)


@settings(max_examples=40, deadline=None)
@given(
    b=st.integers(0, 7),
    t=st.integers(0, 7),
    scale=st.floats(0.01, 10.0),
    seed=st.integers(0, 2**16),
    strict=st.booleans(),
)
def test_hard_weight_outputs_lie_on_the_grid(b, t, scale, seed, strict) -> None:
    w = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(seed)) * scale
    block = HMQ(HmqControl(strict_levels=strict), signed=True, weight=w).eval()
    _saturated(block, b, t)
    y = block(w)
    thr = block.thresholds()[t]
    q = 2.0 ** (BITS[b] - 1)
    delta = thr / q
    k = y / delta
    assert torch.equal(k, torch.round(k))
    lo, hi = (-q, q - 1) if strict else (-(q - 1), q)
    assert float(k.min()) >= lo and float(k.max()) <= hi
    assert block.bit_width() == BITS[b] and block.threshold() == float(thr)


@settings(max_examples=40, deadline=None)
@given(
    t=st.integers(0, 7),
    bits=st.integers(1, 8),
    signed=st.booleans(),
    tau=st.floats(0.2, 1.0),
    seed=st.integers(0, 2**16),
)
def test_saturated_logits_make_the_soft_forward_equal_the_hard_one(t, bits, signed, tau, seed) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(5, 3, 4, 4, generator=gen) * 3
    control = HmqControl(temperature=tau, quant_acts=True)
    block = HMQ(control, signed=signed)
    block.set_bits([bits])
    block.base_thresholds.fill_(float(x.abs().max()))
    _saturated(block, 0, t)
    soft = block.train()(x)
    hard = block.eval()(x)
    assert torch.equal(soft, hard)


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_uniform_bits_give_32_over_b(bits) -> None:
    blocks = []
    for n in (10, 300, 7):
        block = HMQ(HmqControl(), True, bits_list=BITS, weight=torch.randn(n))
        _saturated(block, BITS.index(bits), 0)
        blocks.append(block)
    assert float(expected_weight_compression(blocks).detach()) == pytest.approx(32 / bits)


@pytest.mark.parametrize(("case", "lr", "wd"), [("lr1e-2_wd0", 1e-2, 0.0), ("lr1e-3_wd1e-1", 1e-3, 0.1)])
def test_network_optimizer_reproduces_the_original_radam(golden, case, lr, wd) -> None:
    g = golden("radam")
    model = torch.nn.Linear(5, 1, bias=False)
    model.weight.data.copy_(g["p0"].reshape(1, 5))
    attach_weight_hmq(model, HmqControl(), BITS, 8)
    net_opt, hmq_opt = build_optimizers(
        model, lr_start=lr, weight_decay=wd, lr_activation=0.01, lr_coefficient=0.01
    )
    assert [p for grp in hmq_opt.param_groups for p in grp["params"]] == [model.q.search_matrix]
    assert [p for grp in net_opt.param_groups for p in grp["params"]] == [model.weight]
    for step in range(8):
        model.weight.grad = g["grads"][step].reshape(1, 5).clone()
        net_opt.step()
        torch.testing.assert_close(
            model.weight.detach().reshape(5), g[f"traj_{case}"][step], rtol=1e-5, atol=1e-6
        )
