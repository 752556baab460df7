"""HAWQ-V3 quantization primitives against the original's golden vectors, plus quantizer invariants.

Golden data: ``tests/golden/hawq/quant_utils.npz`` (see ``shared/golden/hawq/README.md``). Integer arrays must
match exactly, float arrays to rtol 1e-5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hawq.utils.quantization_utils.quant_utils import (
    AsymmetricQuantFunction,
    SymmetricQuantFunction,
    asymmetric_linear_quantization_params,
    batch_frexp,
    fixedpoint_fn,
    fixedpoint_requantize,
    get_percentile_min_max,
    linear_dequantize,
    linear_quantize,
    ste_round,
    symmetric_linear_quantization_params,
    transfer_float_averaging_to_int_averaging,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "hawq" / "quant_utils.npz"


@pytest.fixture(scope="module")
def g() -> dict[str, torch.Tensor]:
    with np.load(GOLDEN) as data:
        return {k: torch.from_numpy(data[k].copy()) for k in data.files}


def assert_exact(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Integers: exact equality, same shape (dtype may differ only float32 vs float64 as stored)."""
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


def assert_float(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=0)


# ---------------------------------------------------------------- golden: linear_quantize / dequantize


@pytest.mark.parametrize("tag", ["w4", "w2", "w1"])
def test_linear_quantize_golden(g: dict[str, torch.Tensor], tag: str) -> None:
    zp = g.get(f"lq_{tag}_zp", torch.zeros(()))
    out = linear_quantize(g[f"lq_{tag}_in"], g[f"lq_{tag}_scale"], zp)
    assert_exact(out, g[f"lq_{tag}_out"])


def test_linear_dequantize_golden(g: dict[str, torch.Tensor]) -> None:
    out = linear_dequantize(g["lq_w4_out"], g["lq_w4_scale"], g["lq_w4_zp"])
    assert_float(out, g["ldq_w4_out"])


def test_linear_quantize_rounds_half_to_even(g: dict[str, torch.Tensor]) -> None:
    assert_exact(linear_quantize(g["lq_halfway_in"], 1.0, 0.0), g["lq_halfway_out"])


# ---------------------------------------------------------------- golden: scale / zero point


@pytest.mark.parametrize("bits", [4, 8, 16])
def test_symmetric_params_golden(g: dict[str, torch.Tensor], bits: int) -> None:
    pc = symmetric_linear_quantization_params(bits, g["sym_min"], g["sym_max"], per_channel=True)
    assert_float(pc, g[f"sym_scale_pc_b{bits}"])
    pt = symmetric_linear_quantization_params(bits, torch.tensor(-0.7), torch.tensor(0.25), per_channel=False)
    assert_float(pt, g[f"sym_scale_pt_b{bits}"])


@pytest.mark.parametrize("bits", [4, 8])
def test_asymmetric_params_golden(g: dict[str, torch.Tensor], bits: int) -> None:
    hi = torch.tensor([5.3])
    s, z = asymmetric_linear_quantization_params(bits, torch.zeros(1), hi, integral_zero_point=True)
    assert_float(s, g[f"asym_scale_b{bits}_min0"])
    assert_exact(z, g[f"asym_zp_b{bits}_min0"])
    s, z = asymmetric_linear_quantization_params(bits, torch.tensor([-1.3]), hi, integral_zero_point=True)
    assert_float(s, g[f"asym_scale_b{bits}_minneg"])
    assert_exact(z, g[f"asym_zp_b{bits}_minneg"])
    _, z = asymmetric_linear_quantization_params(bits, torch.tensor([-1.3]), hi, integral_zero_point=False)
    assert_float(z, g[f"asym_zp_b{bits}_minneg_nonintegral"])


def test_asymmetric_params_signed_offsets_zero_point() -> None:
    _, z = asymmetric_linear_quantization_params(4, torch.tensor([-1.3]), torch.tensor([5.3]), signed=True)
    assert z.item() == 3.0 + 8.0


# ---------------------------------------------------------------- golden: batch_frexp


@pytest.mark.parametrize("suffix", ["", "_4d"])
def test_batch_frexp_golden(g: dict[str, torch.Tensor], suffix: str) -> None:
    m, e = batch_frexp(g[f"frexp_in{suffix}"])
    assert_exact(m, g[f"frexp_m{suffix}"])
    assert_exact(e, g[f"frexp_e{suffix}"])
    # and the decomposition reconstructs the input to 2^-31 relative precision
    x = g[f"frexp_in{suffix}"]
    torch.testing.assert_close(m / 2.0**e, x, rtol=2.0**-31, atol=0)


def test_batch_frexp_spec_examples_and_edge_cases() -> None:
    x = torch.tensor([0.1, 1.0, 3.7, 1e-3, 0.0, 1.0 - 2.0**-33], dtype=torch.float64)
    m, e = batch_frexp(x)
    assert m.tolist() == [1717986918, 1073741824, 1986422374, 1099511628, 0, 2**31]
    assert e.tolist() == [34, 30, 29, 40, 31, 31]


def test_batch_frexp_rounds_ties_half_up() -> None:
    # f * 2^31 = 2^30 + 0.5 exactly -> half-up gives 2^30 + 1 (half-even would give 2^30)
    f = (2.0**30 + 0.5) / 2.0**31
    m, e = batch_frexp(torch.tensor([f, -f], dtype=torch.float64))
    assert m.tolist() == [2.0**30 + 1, -(2.0**30 + 1)]
    assert e.tolist() == [31, 31]


# ---------------------------------------------------------------- golden: STE quantizers


@pytest.mark.parametrize("bits", [4, 8])
def test_symmetric_quant_function_golden(g: dict[str, torch.Tensor], bits: int) -> None:
    w = g[f"symq_b{bits}_w"].clone().requires_grad_(True)
    q = SymmetricQuantFunction.apply(w, bits, g[f"symq_b{bits}_scale"])
    assert_exact(q.detach(), g[f"symq_b{bits}_out"])
    q.backward(g[f"symq_b{bits}_gout"])
    assert_float(w.grad, g[f"symq_b{bits}_gw"])


def test_symmetric_quant_function_clamps(g: dict[str, torch.Tensor]) -> None:
    q = SymmetricQuantFunction.apply(g["symq_clamp_in"], 4, torch.tensor(0.1))
    assert_exact(q, g["symq_clamp_b4_out"])


@pytest.mark.parametrize("bits", [4, 8])
def test_asymmetric_quant_function_golden(g: dict[str, torch.Tensor], bits: int) -> None:
    scale, _ = asymmetric_linear_quantization_params(bits, torch.zeros(1), torch.tensor([5.0]))
    assert_float(scale, g[f"asymq_b{bits}_scale"])
    x = g[f"asymq_b{bits}_x"].clone().requires_grad_(True)
    q = AsymmetricQuantFunction.apply(x, bits, scale)
    assert_exact(q.detach(), g[f"asymq_b{bits}_out"])
    q.backward(g[f"asymq_b{bits}_gout"])
    assert_float(x.grad, g[f"asymq_b{bits}_gx"])


def test_ste_round_golden(g: dict[str, torch.Tensor]) -> None:
    x = g["ste_in"].clone().requires_grad_(True)
    y = ste_round(x)
    assert_exact(y.detach(), g["ste_out"])
    y.sum().backward()
    assert_float(x.grad, g["ste_grad"])


def test_int_averaging_golden(g: dict[str, torch.Tensor]) -> None:
    x = g["intavg_in"].clone().requires_grad_(True)
    y = transfer_float_averaging_to_int_averaging(x)
    assert_exact(y.detach(), g["intavg_out"])
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


# ---------------------------------------------------------------- golden: fixedpoint_fn


@pytest.mark.parametrize(("mode", "bits"), [("symmetric", 8), ("asymmetric", 4), ("symmetric", 16)])
def test_fixedpoint_case0_golden(g: dict[str, torch.Tensor], mode: str, bits: int) -> None:
    out = fixedpoint_fn.apply(g["fp_z"], bits, mode, g["fp_z_sf"], 0, g["fp_pre_act"], g["fp_pre_w"])
    assert_exact(out, g[f"fp_case0_{mode}_b{bits}"])


def test_fixedpoint_case0_2d_golden(g: dict[str, torch.Tensor]) -> None:
    out = fixedpoint_fn.apply(g["fp2d_z"], 8, "symmetric", g["fp_z_sf"], 0, g["fp_pre_act"], g["fp_pre_w"])
    assert_exact(out, g["fp2d_case0_sym8"])


def test_fixedpoint_case1_golden(g: dict[str, torch.Tensor]) -> None:
    out = fixedpoint_fn.apply(
        g["fp1_z"],
        16,
        "symmetric",
        g["fp_z_sf"],
        1,
        g["fp_pre_act"],
        g["fp_pre_w"],
        g["fp1_identity"],
        g["fp1_id_sf"],
        g["fp1_id_wsf"],
    )
    assert_exact(out, g["fp_case1_sym16"])


def test_fixedpoint_case1_raw_identity_golden(g: dict[str, torch.Tensor]) -> None:
    out = fixedpoint_requantize(
        g["fp1b_z"],
        16,
        "symmetric",
        g["fp_z_sf"],
        g["fp_pre_act"],
        g["fp_pre_w"],
        identity=g["fp1b_identity"],
        identity_scaling_factor=g["fp1_id_sf"],
        identity_weight_scaling_factor=torch.ones(1),
    )
    assert_exact(out, g["fp_case1b_sym16"])


def test_fixedpoint_backward_divides_by_output_scale(g: dict[str, torch.Tensor]) -> None:
    z = g["fp_z"].clone().requires_grad_(True)
    out = fixedpoint_requantize(z, 8, "symmetric", g["fp_z_sf"], g["fp_pre_act"], g["fp_pre_w"])
    (out * g["fp_z_sf"]).sum().backward()
    torch.testing.assert_close(z.grad, torch.ones_like(z))


def test_fixedpoint_case1_is_not_clamped() -> None:
    s = torch.ones(1)
    z = torch.full((1, 1, 1, 1), 40000.0)
    identity = torch.full((1, 1, 1, 1), 30000.0)
    out = fixedpoint_requantize(z, 16, "symmetric", s, s, s, identity, s, s)
    assert out.item() == 40000.0  # beyond int16 max: quirk 10 keeps the sum unclamped


def _original_order_case0(z, bits, s_out, s_in, s_w):
    """The original's case 0, step by step: two float32 divisions and a round, then in float64
    ``z_int · m``, ``/ 2^e``, round, clamp (``m, e`` from the same ``requant_multiplier``)."""
    from hawq.utils.quantization_utils.quant_utils import requant_multiplier

    z_int = torch.round(z / s_in.view(1, -1, 1, 1) / s_w.view(1, -1, 1, 1))
    m, e = requant_multiplier(s_in, s_w, s_out, 4)
    product = z_int.to(torch.float64) * m
    n = 2 ** (bits - 1) - 1
    return torch.clamp(torch.round(product / (2.0**e)), -n - 1, n).to(torch.float32)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    magnitude=st.floats(1.0, 8.0),
    s_exp=st.floats(-4.0, 0.0),
    bits=st.sampled_from([4, 8, 16, 32]),
)
def test_fixedpoint_one_multiply_equals_original_order(
    seed: int, magnitude: float, s_exp: float, bits: int
) -> None:
    """The requantization forms ``m / 2^e`` first and multiplies once; it must give the integers of the
    original's multiply-then-divide also where ``|z_int · m|`` exceeds 2^53 and the float64 product rounds."""
    gen = torch.Generator().manual_seed(seed)
    channels = 6
    s_in = torch.rand(1, generator=gen) * 10**s_exp + 1e-6
    s_w = torch.rand(channels, generator=gen) * 1e-2 + 1e-5
    s_out = torch.rand(1, generator=gen) * 10 ** (s_exp + 1) + 1e-6
    ints = torch.round(torch.randn(2, channels, 5, 5, generator=gen) * 10**magnitude)
    z = ints * s_in.view(1, -1, 1, 1) * s_w.view(1, -1, 1, 1)
    out = fixedpoint_fn.apply(z, bits, "symmetric", s_out, 0, s_in, s_w)
    assert torch.equal(out, _original_order_case0(z, bits, s_out, s_in, s_w))


# ---------------------------------------------------------------- golden: percentiles


@pytest.mark.parametrize(("lo", "hi"), [(0.1, 99.9), (0, 99), (1, 99)])
def test_percentile_min_max_golden(g: dict[str, torch.Tensor], lo: float, hi: float) -> None:
    lower, upper = get_percentile_min_max(g["pct_in"], lo, hi, output_tensor=True)
    assert_float(torch.stack([lower, upper]), g[f"pct_{lo}_{hi}"])


# ---------------------------------------------------------------- property tests

_finite = st.floats(-100.0, 100.0, allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    x=arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 9)), elements=_finite),
    bits=st.sampled_from([2, 4, 8, 16]),
)
def test_symmetric_quantizer_invariants(x: np.ndarray, bits: int) -> None:
    t = torch.from_numpy(x)
    rows = t.reshape(t.shape[0], -1)
    scale = symmetric_linear_quantization_params(bits, rows.min(dim=1).values, rows.max(dim=1).values, True)
    q = SymmetricQuantFunction.apply(t, bits, scale)
    n = 2 ** (bits - 1) - 1
    # integers within the signed range
    assert torch.equal(q, torch.round(q))
    assert q.min() >= -n - 1 and q.max() <= n
    # dequantize∘quantize error ≤ s/2 inside the representable range (here: the whole tensor, by construction)
    deq = linear_dequantize(q, scale, 0.0)
    err = (deq - t).abs()
    slack = 4 * torch.finfo(torch.float32).eps * t.abs()  # float rounding of x/s and q*s
    assert torch.all(err <= scale.view(-1, 1) / 2 + slack)
    # idempotence: quantizing the dequantized value gives the same integers
    assert torch.equal(SymmetricQuantFunction.apply(deq, bits, scale), q)


@settings(max_examples=60, deadline=None)
@given(
    x=arrays(np.float32, st.integers(1, 40), elements=st.floats(0.0, 50.0, width=32)),
    bits=st.sampled_from([2, 4, 8]),
)
def test_asymmetric_quantizer_invariants(x: np.ndarray, bits: int) -> None:
    t = torch.from_numpy(x)
    scale, _ = asymmetric_linear_quantization_params(bits, t.min().reshape(1) * 0, t.max().reshape(1))
    q = AsymmetricQuantFunction.apply(t, bits, scale)
    assert torch.equal(q, torch.round(q))
    assert q.min() >= 0 and q.max() <= 2**bits - 1
    deq = q * scale
    slack = 4 * torch.finfo(torch.float32).eps * t.abs()
    assert torch.all((deq - t).abs() <= scale / 2 + slack)
    assert torch.equal(AsymmetricQuantFunction.apply(deq, bits, scale), q)


@settings(max_examples=40, deadline=None)
@given(
    x=arrays(np.float32, st.integers(1, 20), elements=_finite),
    bits=st.sampled_from([4, 8]),
    scale=st.floats(1e-3, 1.0),
)
def test_symmetric_quantizer_clamps_out_of_range(x: np.ndarray, bits: int, scale: float) -> None:
    t = torch.from_numpy(x)
    s = torch.tensor(scale, dtype=torch.float32)
    q = SymmetricQuantFunction.apply(t, bits, s)
    n = 2 ** (bits - 1) - 1
    assert q.min() >= -n - 1 and q.max() <= n
    assert torch.equal(q, torch.clamp(linear_quantize(t, s, 0.0), -n - 1, n))


@settings(max_examples=60, deadline=None)
@given(x=st.floats(1e-30, 1e30, allow_nan=False, allow_infinity=False))
def test_batch_frexp_reconstructs(x: float) -> None:
    m, e = batch_frexp(torch.tensor([x], dtype=torch.float64))
    assert 2**30 <= m.item() <= 2**31
    assert m.item() == float(int(m.item()))
    assert abs(m.item() / 2.0 ** e.item() - x) <= x * 2.0**-31


@settings(max_examples=40, deadline=None)
@given(
    ints=arrays(np.int32, st.integers(1, 30), elements=st.integers(-(2**20), 2**20)),
    s_in=st.floats(1e-3, 1e-1),
    s_out=st.floats(1e-3, 1.0),
)
def test_fixedpoint_matches_float_requant(ints: np.ndarray, s_in: float, s_out: float) -> None:
    """Dyadic requant ≈ round(z_int · s_in / s_out) up to one LSB (the mantissa has 31 bits)."""
    s_a = torch.tensor([s_in], dtype=torch.float32)
    s_o = torch.tensor([s_out], dtype=torch.float32)
    z_int = torch.from_numpy(ints.astype(np.float32))
    z = z_int * s_a
    out = fixedpoint_requantize(z, 32, "symmetric", s_o, s_a)
    ref = torch.round(torch.round(z / s_a).double() * s_a.double() / s_o.double()).float()
    assert torch.all((out - ref).abs() <= 1)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-1e30, max_value=1e30, allow_nan=False, allow_infinity=False))
def test_frexp64_equals_torch_frexp(value: float) -> None:
    from hawq.utils.quantization_utils.quant_utils import frexp64

    x = torch.tensor([value, value / 3, value * 1e-12], dtype=torch.float64)
    x = x[(x == 0) | (x.abs() > 2.3e-308)]  # normal numbers and zero
    mantissa, exponent = frexp64(x)
    ref_m, ref_e = torch.frexp(x)
    assert torch.equal(mantissa, ref_m) and torch.equal(exponent, ref_e.to(torch.float64))
