"""Linear quantizer, KL clip search and K-means weight sharing against the original (quant_golden)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from haq.lib.utils.kl_threshold import kl_clip_threshold
from haq.lib.utils.kmeans import kmeans_cluster, kmeans_update_model, quantize_model
from haq.lib.utils.linear_quant import QConv2d, calibrate


@pytest.mark.parametrize("b", range(1, 9))
def test_kl_threshold(quant_golden, b) -> None:
    z, _ = quant_golden
    assert kl_clip_threshold(z["lin_weight"], b) == z[f"kl_threshold_weight_bw{b}"]
    assert kl_clip_threshold(z["lin_act_halfwave_input"], b) == z[f"kl_threshold_act_half_bw{b}"]


@pytest.mark.parametrize("b", range(2, 9))
def test_weight_quantizer(quant_golden, b) -> None:
    z, _ = quant_golden
    for calib, sfx in ((True, ""), (False, "_maxabs")):
        q = QConv2d(4, 8, 3, padding=1, w_bit=b)
        q.weight.data = torch.from_numpy(z["lin_weight"].copy())
        if calib:
            calibrate(q, torch.from_numpy(z["lin_act_halfwave_input"]))
        w = q.weight.detach().clone().requires_grad_(True)
        out = q.quantize_weight(w)
        assert q.weight_range.item() == pytest.approx(float(z[f"lin_w_b{b}_threshold{sfx}"]), abs=1e-7)
        np.testing.assert_allclose(out.detach().numpy(), z[f"lin_w_b{b}_quantized{sfx}"], atol=1e-6, rtol=0)
        out.sum().backward()
        assert torch.equal(w.grad, torch.ones_like(w))


@pytest.mark.parametrize("b", range(2, 9))
@pytest.mark.parametrize("kind", ["half", "full"])
def test_activation_quantizer(quant_golden, b, kind) -> None:
    z, _ = quant_golden
    x0 = torch.from_numpy(z[f"lin_act_{kind}wave_input"].copy())
    q = QConv2d(4, 8, 3, padding=1, a_bit=b, half_wave=kind == "half")
    calibrate(q, x0)
    assert q.activation_range.item() == pytest.approx(float(z[f"lin_a_{kind}_b{b}_range"]), abs=1e-7)
    x = x0.clone().requires_grad_(True)
    out = q.quantize_input(x)
    (out * torch.from_numpy(z["lin_act_upstream_grad"])).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), z[f"lin_a_{kind}_b{b}_quantized"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(x.grad.numpy(), z[f"lin_a_{kind}_b{b}_grad_input"], atol=1e-6, rtol=0)
    assert q.activation_range.grad.item() == pytest.approx(
        float(z[f"lin_a_{kind}_b{b}_grad_range"]), abs=1e-5
    )


def test_qconv_forward(quant_golden) -> None:
    z, _ = quant_golden
    q = QConv2d(4, 8, 3, padding=1, w_bit=4, a_bit=3)
    q.weight.data = torch.from_numpy(z["lin_weight"].copy())
    x = torch.from_numpy(z["lin_act_halfwave_input"])
    calibrate(q, x)
    np.testing.assert_allclose(q(x).detach().numpy(), z["lin_qconv_w4a3_output"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        [q.weight_range.item(), q.activation_range.item()], z["lin_qconv_w4a3_ranges"], atol=1e-7
    )


@pytest.mark.parametrize("b", range(1, 6))
def test_kmeans_fixed_points_and_sklearn_calls(quant_golden, b) -> None:
    z, _ = quant_golden
    w = z["kmeans_weight"]
    init = np.linspace(w.min(), w.max(), 2**b)
    c, lab = kmeans_cluster(w, 2**b, init=init, max_iter=300, tol=0)
    np.testing.assert_allclose(c, z[f"kmeans_exact_b{b}_centroids"], atol=1e-7)
    np.testing.assert_array_equal(lab, z[f"kmeans_exact_b{b}_labels"])
    c, lab = kmeans_cluster(w, 2**b, init=init, max_iter=300)
    np.testing.assert_allclose(c, z[f"kmeans_linit_b{b}_centroids"], atol=1e-7)
    np.testing.assert_allclose(c[lab], z[f"kmeans_linit_b{b}_wq"], atol=1e-7)
    np.random.seed(0)
    c, lab = kmeans_cluster(w, 2**b, max_iter=3)  # k-means++ from the global RNG, as the search calls it
    mse = float(((c[lab] - w) ** 2).mean())
    assert mse == pytest.approx(float(z[f"kmeans_pp_seed0_iter3_b{b}_mse"]), rel=0.2)


class _Toy(nn.Module):
    def __init__(self, z: dict) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 16, 3, bias=False)
        self.fc = nn.Linear(10, 4)
        self.conv.weight.data = torch.from_numpy(z["kmeans_weight"].copy())
        self.fc.weight.data = torch.from_numpy(z["toy_fc_weight"].copy())


def test_quantize_model_free_high_bit_and_projection(quant_golden) -> None:
    z, j = quant_golden
    toy = _Toy(z)
    books = quantize_model(toy, [2, 7], max_iter=50, free_high_bit=True, random_state=0)
    assert [k + 1 for k in books] == j["quantize_model_free_high_bit_keys"]
    np.testing.assert_array_equal(toy.fc.weight.detach().numpy(), z["toy_after_quantize_fc_w_unchanged"])
    assert torch.unique(toy.conv.weight).numel() <= 4
    toy.conv.weight.data = torch.from_numpy(z["toy_perturbed_conv_w"].copy())
    books[0].labels = torch.from_numpy(z["toy_conv_labels"].astype(np.int64))
    books[0].__post_init__()
    kmeans_update_model(toy, books, free_high_bit=True)
    np.testing.assert_allclose(
        toy.conv.weight.detach().numpy(), z["toy_after_update_conv_w"], atol=1e-7, rtol=1e-6
    )


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 8), st.floats(0.05, 3.0))
def test_linear_weight_levels(bits, scale) -> None:
    q = QConv2d(2, 3, 3, w_bit=bits)
    with torch.no_grad():
        q.weight.mul_(scale)
    out = q.quantize_weight(q.weight).detach()
    assert torch.unique(out).numel() <= 2**bits - 1
    assert out.abs().max() <= q.weight.abs().max() * (1 + 1e-6)
