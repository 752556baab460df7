"""DoReFa weights and PACT activations against golden/proqha/quantizers.npz (abs 1e-6), plus invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from proqha.quantizers import PACT, QuantConv2d, WeightQuantizer, uniform_quantize

TOL = 1e-6


@pytest.mark.parametrize("k", [2, 3, 4, 5, 8, 32])
def test_inner_uniform_quantizer(quantizer_golden, k) -> None:
    u = torch.from_numpy(quantizer_golden["uq_input"])
    np.testing.assert_allclose(uniform_quantize(u, k).numpy(), quantizer_golden[f"uq_k{k}"], atol=TOL, rtol=0)


def test_inner_quantizer_one_bit_is_sign(quantizer_golden) -> None:
    u = torch.from_numpy(quantizer_golden["uq_k1_input"])
    np.testing.assert_array_equal(uniform_quantize(u, 1).numpy(), quantizer_golden["uq_k1"])


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 8, 32])
def test_weight_quantizer_forward_and_gradient(quantizer_golden, k) -> None:
    w = torch.from_numpy(quantizer_golden["wq_input"]).requires_grad_(True)
    out = WeightQuantizer(k)(w)
    (out * torch.from_numpy(quantizer_golden["wq_upstream_grad"])).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), quantizer_golden[f"wq_k{k}_out"], atol=TOL, rtol=0)
    np.testing.assert_allclose(w.grad.numpy(), quantizer_golden[f"wq_k{k}_grad"], atol=TOL, rtol=0)


@pytest.mark.parametrize("alpha", ["10", "2.5", "6"])
@pytest.mark.parametrize("k", [2, 3, 4, 5, 8, 32])
def test_pact_forward_and_gradients(quantizer_golden, alpha, k) -> None:
    x = torch.from_numpy(quantizer_golden["pact_input"]).requires_grad_(True)
    pact = PACT(k)
    with torch.no_grad():
        pact.alpha.fill_(float(alpha))
    y = pact(x)
    (y * torch.from_numpy(quantizer_golden["pact_upstream_grad"])).sum().backward()
    key = f"pact_a{alpha}_k{k}"
    np.testing.assert_allclose(y.detach().numpy(), quantizer_golden[f"{key}_out"], atol=TOL, rtol=0)
    np.testing.assert_allclose(x.grad.numpy(), quantizer_golden[f"{key}_grad_x"], atol=TOL, rtol=0)
    np.testing.assert_allclose(
        pact.alpha.grad.numpy(), quantizer_golden[f"{key}_grad_alpha"], atol=TOL, rtol=0
    )


def test_pact_gradient_is_half_at_zero_and_alpha() -> None:
    x = torch.tensor([0.0, 10.0, 5.0, -1.0, 11.0], requires_grad=True)
    PACT(32)(x).sum().backward()
    assert x.grad.tolist() == [0.5, 0.5, 1.0, 0.0, 0.0]


@settings(max_examples=25, deadline=None)
@given(k=st.integers(2, 8), seed=st.integers(0, 2**16))
def test_weight_levels_property(k, seed) -> None:
    w = torch.randn(64, generator=torch.Generator().manual_seed(seed))
    q = WeightQuantizer(k)(w)
    assert q.min() >= -1 and q.max() <= 1
    levels = torch.round((q + 1) / 2 * (2**k - 1))
    torch.testing.assert_close((q + 1) / 2 * (2**k - 1), levels, atol=1e-4, rtol=0)
    assert q.abs().max() == 1  # the largest |w| maps to an end of the grid


@settings(max_examples=25, deadline=None)
@given(k=st.integers(2, 8), alpha=st.floats(0.5, 12), seed=st.integers(0, 2**16))
def test_pact_range_property(k, alpha, seed) -> None:
    x = torch.randn(128, generator=torch.Generator().manual_seed(seed)) * 8
    pact = PACT(k, alpha=alpha)
    y = pact(x).detach()
    assert y.min() >= 0 and y.max() <= alpha * (1 + 1e-6)
    assert len(torch.unique(y)) <= 2**k


def test_bits_change_takes_effect_and_conv_uses_it() -> None:
    conv = QuantConv2d(2, 2, 1, bits=8)
    conv.quantize_weight.bits = 2
    assert conv.quantize_weight.k_bits == 2
    x = torch.eye(2).view(1, 2, 2, 1)  # reads the 1x1 weights back
    seen = conv(x).detach().flatten().unique()
    assert set(torch.round(seen * 3).tolist()) <= {-3.0, -1.0, 1.0, 3.0}
    with pytest.raises(ValueError):
        conv.quantize_weight.bits = 0
