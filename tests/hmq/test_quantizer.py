"""hmq.quantizer against golden/hmq/base_quantizer.npz (rtol = atol = 1e-5), plus a finite-difference check."""

from __future__ import annotations

import pytest
import torch

from hmq.quantizer import quantize, quantize_plain

CASES = ["signed_scalar", "unsigned_scalar", "signed_perchannel_frac", "unsigned_perbatch_frac"]
TOL = {"rtol": 1e-5, "atol": 1e-5}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("variant", ["efficient", "plain"])
def test_forward_and_backward_match_golden(golden, golden_meta, case, variant) -> None:
    g = golden("base_quantizer")
    signed = golden_meta["base_quantizer"][case]["is_signed"]
    x = g[f"{case}_x"].clone().requires_grad_(True)
    delta = g[f"{case}_delta"].clone().requires_grad_(True)
    qp = g[f"{case}_qp"].clone().requires_grad_(True)
    fn = quantize if variant == "efficient" else quantize_plain
    y = fn(x, delta, qp, signed)
    (y * g[f"{case}_upstream"]).sum().backward()
    pre = f"{case}_{variant}"
    torch.testing.assert_close(y, g[f"{pre}_y"], **TOL)
    torch.testing.assert_close(x.grad, g[f"{pre}_grad_x"], **TOL)
    torch.testing.assert_close(delta.grad, g[f"{pre}_grad_delta"], **TOL)
    torch.testing.assert_close(qp.grad, g[f"{pre}_grad_qp"], **TOL)


def _fd_check(x: torch.Tensor, d0: float, q0: float, up: torch.Tensor) -> tuple[float, float, float, float]:
    delta = torch.tensor([d0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([q0], dtype=torch.float64, requires_grad=True)
    (quantize(x, delta, q, 1.0) * up).sum().backward()
    eps = 1e-7

    def f(d: float, qq: float) -> float:
        dd = torch.tensor([d], dtype=torch.float64)
        return float((quantize(x, dd, torch.tensor([qq], dtype=torch.float64), 1.0) * up).sum())

    fd_q = (f(d0, q0 + eps) - f(d0, q0 - eps)) / (2 * eps)
    fd_d = (f(d0 + eps, q0) - f(d0 - eps, q0)) / (2 * eps)
    return float(q.grad), fd_q, float(delta.grad), fd_d


def test_efficient_backward_matches_finite_differences_away_from_ties() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, dtype=torch.float64, generator=gen) * 0.7
    up = torch.randn(64, dtype=torch.float64, generator=gen)
    grad_q, fd_q, _, _ = _fd_check(x, 0.1234, 3.37, up)
    assert grad_q == pytest.approx(fd_q, rel=1e-6)
    # every value clipped: y = delta * bound exactly, so the delta rule is the true derivative there
    far = torch.cat([torch.full((5,), 9.0), torch.full((5,), -9.0)]).double()
    _, _, grad_d, fd_d = _fd_check(far, 0.1234, 3.37, torch.ones(10, dtype=torch.float64))
    assert grad_d == pytest.approx(fd_d, rel=1e-6)


def test_strict_levels_use_two_to_the_b_levels() -> None:
    x = torch.linspace(-2, 2, 101)
    delta, q = torch.tensor([0.25]), torch.tensor([4.0])  # 3-bit signed: q = 2^(3-1)
    y = quantize(x, delta, q, 1.0, strict=True)
    assert set((y / 0.25).round().int().tolist()) == set(range(-4, 4))
    y = quantize(x, delta, q, 1.0)
    assert set((y / 0.25).round().int().tolist()) == set(range(-3, 5))
