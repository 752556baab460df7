"""HAWQ-V3 QuantAct / QuantLinear / QuantConv2d against the original's golden vectors.

Golden data: ``tests/golden/hawq/quant_modules.npz`` (see ``shared/golden/hawq/README.md``). Integer arrays
(``wint``, ``bint``) must match exactly; float arrays to rtol 1e-5. Conv outputs additionally get an absolute
slack of 1e-3 output LSB: ``x / s_in`` is not re-rounded (quirk 21), so near-zero outputs carry float noise of
order 1e-5 LSB whose relative size is unbounded; their rounded integer values must still match exactly.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hawq.utils.quantization_utils.quant_modules import QuantAct, QuantConv2d, QuantLinear
from hawq.utils.quantization_utils.quant_utils import fixedpoint_fn


def close(actual: torch.Tensor, expected: torch.Tensor, atol: float = 0.0) -> None:
    actual = actual.detach()
    # quirk 6 fixed: our range buffers stay [1] where the original's became 0-d
    assert actual.numel() == expected.numel()
    torch.testing.assert_close(actual.reshape(expected.shape), expected, rtol=1e-5, atol=atol)


def exact(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual.detach(), expected, rtol=0, atol=0)


ACT_TAGS = {
    "sym8_m099": (8, "symmetric", 0.99, 0),
    "sym8_mm1": (8, "symmetric", -1, 0),
    "asym4_m099": (4, "asymmetric", 0.99, 0),
    "sym8_pct99": (8, "symmetric", 0.99, 99),
    "asym4_pct99": (4, "asymmetric", 0.99, 99),
}


@pytest.mark.parametrize("tag", list(ACT_TAGS))
def test_quant_act_range_tracking_golden(g: dict[str, torch.Tensor], tag: str) -> None:
    bits, mode, momentum, pct = ACT_TAGS[tag]
    qa = QuantAct(bits, act_range_momentum=momentum, quant_mode=mode, act_percentile=pct)
    feed = torch.relu if mode == "asymmetric" else (lambda t: t)
    for step in range(3):
        out, sf = qa(feed(g[f"act_in{step}"]))
        close(out, g[f"act_{tag}_step{step}_out"])
        close(qa.x_min, g[f"act_{tag}_step{step}_xmin"])
        close(qa.x_max, g[f"act_{tag}_step{step}_xmax"])
        close(sf, g[f"act_{tag}_step{step}_sf"])
    qa.fix()
    out, _ = qa(feed(g["act_in3"]))
    close(out, g[f"act_{tag}_frozen_out"])
    close(qa.x_min, g[f"act_{tag}_frozen_xmin"])
    close(qa.x_max, g[f"act_{tag}_frozen_xmax"])
    assert qa.x_min.shape == qa.x_max.shape == (1,)


def test_quant_act_running_minmax_state_dict_roundtrip(g: dict[str, torch.Tensor]) -> None:
    qa = QuantAct(8, act_range_momentum=-1)
    for step in range(3):
        qa(g[f"act_in{step}"])
    fresh = QuantAct(8, act_range_momentum=-1)
    fresh.load_state_dict(qa.state_dict())  # the original fails here (0-d vs [1] buffers)
    assert torch.equal(fresh.x_min, qa.x_min) and torch.equal(fresh.x_max, qa.x_max)


def test_quant_act_unfix_resumes_tracking(g: dict[str, torch.Tensor]) -> None:
    qa = QuantAct(8, act_range_momentum=0.99)
    qa(g["act_in0"])
    qa.fix()
    before = qa.x_max.clone()
    qa(g["act_in1"])
    assert torch.equal(qa.x_max, before)
    qa.unfix()
    qa(g["act_in1"])
    assert not torch.equal(qa.x_max, before)


@pytest.mark.parametrize(("tag", "bits", "mode"), [("sym8", 8, "symmetric"), ("asym4", 4, "asymmetric")])
def test_quant_act_requant_golden(g: dict[str, torch.Tensor], tag: str, bits: int, mode: str) -> None:
    qa = QuantAct(bits, quant_mode=mode)
    out, sf = qa(g["rq_z"], g["rq_pre_act"], g["rq_pre_w"])
    close(out, g[f"rq_{tag}_out"])
    close(sf, g[f"rq_{tag}_sf"])
    exact(torch.round(out / sf), torch.round(g[f"rq_{tag}_out"] / g[f"rq_{tag}_sf"]))
    qa_fp = QuantAct(bits, quant_mode=mode, fixed_point_quantization=True)
    out_fp, _ = qa_fp(g["rq_z"], g["rq_pre_act"], g["rq_pre_w"])
    close(out_fp, g[f"rq_{tag}_fixedpoint_out"])


def test_quant_act_tuple_input_matches_positional(g: dict[str, torch.Tensor]) -> None:
    a, sa = QuantAct(8)(g["rq_z"], g["rq_pre_act"], g["rq_pre_w"])
    b, sb = QuantAct(8)((g["rq_z"], g["rq_pre_act"]), pre_weight_scaling_factor=g["rq_pre_w"])
    assert torch.equal(a, b) and torch.equal(sa, sb)


@pytest.mark.parametrize("tag", ["res", "res2"])
def test_quant_act_residual_golden(g: dict[str, torch.Tensor], tag: str) -> None:
    identity = g[f"{tag}_identity"]
    id_wsf = g["res_id_wsf"] if tag == "res" else None
    qa = QuantAct(16)
    out, sf = qa(g["rq_z"] + identity, g["rq_pre_act"], g["rq_pre_w"], identity, g["res_id_sf"], id_wsf)
    close(out, g[f"{tag}_out"])
    close(sf, g[f"{tag}_sf"])


def test_quant_act_concat_branches_match_per_slice_requant() -> None:
    torch.manual_seed(0)
    s1, s2 = torch.tensor([0.01]), torch.tensor([0.03])
    x = torch.cat(
        [torch.randint(-50, 50, (2, 3, 4, 4)) * s1, torch.randint(-50, 50, (2, 5, 4, 4)) * s2], dim=1
    )
    x_before = x.clone()
    qa = QuantAct(8)
    out, sf = qa((x, [s1, s2], [3, 5]))
    assert torch.equal(x, x_before)  # the input is not modified
    one = torch.ones(1)
    ref = torch.cat(
        [
            fixedpoint_fn.apply(x[:, :3], 8, "symmetric", sf, 0, s1, one),
            fixedpoint_fn.apply(x[:, 3:], 8, "symmetric", sf, 0, s2, one),
        ],
        dim=1,
    )
    assert torch.equal(out, ref * sf)


CONV_TAGS = {"pc": (True, 0), "pt": (False, 0), "pc_pct99": (True, 99)}


def _conv(g: dict[str, torch.Tensor], bias: bool = True) -> nn.Conv2d:
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=bias)
    with torch.no_grad():
        conv.weight.copy_(g["qconv_weight"])
        if bias:
            conv.bias.copy_(g["qconv_bias"])
    return conv


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("tag", list(CONV_TAGS))
def test_quant_conv2d_golden(g: dict[str, torch.Tensor], tag: str, bits: int) -> None:
    per_channel, pct = CONV_TAGS[tag]
    qc = QuantConv2d(bits, 32, per_channel, weight_percentile=pct)
    qc.set_param(_conv(g))
    out, wsf = qc(g["qconv_x"], g["qconv_x_sf"])
    key = f"qconv_{tag}_b{bits}"
    close(wsf, g[f"{key}_wsf"])
    assert wsf.shape == g[f"{key}_wsf"].shape
    exact(qc.weight_integer, g[f"{key}_wint"])
    exact(qc.bias_integer, g[f"{key}_bint"])
    lsb = (wsf * g["qconv_x_sf"]).view(1, -1, 1, 1)
    close(out, g[f"{key}_out"], atol=1e-3 * lsb.max().item())
    exact(torch.round(out.detach() / lsb), torch.round(g[f"{key}_out"] / lsb))


def test_quant_conv2d_without_bias_and_tuple_input(g: dict[str, torch.Tensor]) -> None:
    qc = QuantConv2d(8, 32, per_channel=True)
    qc.set_param(_conv(g, bias=False))
    out, wsf = qc((g["qconv_x"], g["qconv_x_sf"]))
    ref = nn.functional.conv2d(g["qconv_x"] / g["qconv_x_sf"], qc.weight_integer, padding=1)
    torch.testing.assert_close(out.detach(), ref * (wsf * g["qconv_x_sf"]).view(1, -1, 1, 1))
    assert qc.bias_integer is None


@pytest.mark.parametrize("tag", ["pc", "pt"])
def test_quant_linear_golden(g: dict[str, torch.Tensor], tag: str) -> None:
    lin = nn.Linear(6, 5)
    with torch.no_grad():
        lin.weight.copy_(g["qlin_weight"])
        lin.bias.copy_(g["qlin_bias"])
    ql = QuantLinear(8, 32, per_channel=tag == "pc")
    ql.set_param(lin)
    x = g["qlin_x"].clone().requires_grad_(True)
    out = ql(x, torch.tensor([0.02]))
    close(out, g[f"qlin_{tag}_out"])
    close(ql.fc_scaling_factor, g[f"qlin_{tag}_fcsf"])
    assert ql.fc_scaling_factor.shape == g[f"qlin_{tag}_fcsf"].shape
    exact(ql.weight_integer, g[f"qlin_{tag}_wint"])
    exact(ql.bias_integer, g[f"qlin_{tag}_bint"])
    out.backward(g[f"qlin_{tag}_gout"])
    close(x.grad, g[f"qlin_{tag}_gx"])
    close(ql.weight.grad, g[f"qlin_{tag}_gw"])
    close(ql.bias.grad, g[f"qlin_{tag}_gb"])


def test_quant_linear_without_bias() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(6, 5, bias=False)
    ql = QuantLinear(8, 32, per_channel=True)
    ql.set_param(lin)
    s = torch.tensor([0.02])
    x = torch.randint(-100, 100, (3, 6)).float() * s
    out = ql(x, s)
    ref = torch.round(nn.functional.linear(x / s, ql.weight_integer)) * (ql.fc_scaling_factor * s)
    torch.testing.assert_close(out.detach(), ref)
