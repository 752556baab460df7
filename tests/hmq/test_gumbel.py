"""hmq.gumbel against golden/hmq/gumbel_softmax.npz (rtol = atol = 1e-5)."""

from __future__ import annotations

import pytest
import torch

from hmq.gumbel import gumbel_noise, gumbel_softmax

TOL = {"rtol": 1e-5, "atol": 1e-5}


@pytest.mark.parametrize("case", ["t1_b1", "t05_b3", "t02_b2"])
def test_noisy_samples_match_golden(golden, golden_meta, case) -> None:
    g = golden("gumbel_softmax")
    tau = golden_meta["gumbel_softmax"][case]["temperature"]
    torch.testing.assert_close(gumbel_noise(g[f"{case}_u"]), g[f"{case}_g"], **TOL)
    torch.testing.assert_close(gumbel_softmax(g["pi"], tau, g[f"{case}_u"]), g[f"{case}_p"], **TOL)


def test_no_noise_is_plain_softmax(golden) -> None:
    g = golden("gumbel_softmax")
    torch.testing.assert_close(gumbel_softmax(g["pi"], 0.3), g["nonoise_p"], **TOL)


def test_straight_through_forward_and_gradient(golden) -> None:
    g = golden("gumbel_softmax")
    pi = g["pi"].clone().requires_grad_(True)
    p = gumbel_softmax(pi, 0.5, g["ste_u"], ste=True)
    torch.testing.assert_close(p, g["ste_p"], **TOL)
    (p * g["ste_upstream"]).sum().backward()
    torch.testing.assert_close(pi.grad, g["ste_grad_pi"], **TOL)
