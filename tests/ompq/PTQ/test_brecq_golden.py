"""BRECQ quantizers, AdaRound, losses, BN folding and per-module bits against ptq_brecq_golden.*."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from common.models import build_model
from ompq.PTQ.bit_list import expand_bit_list, layer_names
from ompq.PTQ.quant.adaround import AdaRoundQuantizer, rounding_regularizer
from ompq.PTQ.quant.fold_bn import fold_all_bn, fold_bn_params
from ompq.PTQ.quant.quant_block import BaseQuantBlock
from ompq.PTQ.quant.quant_layer import QuantModule
from ompq.PTQ.quant.quant_model import QuantModel
from ompq.PTQ.quant.quantizer import UniformAffineQuantizer, lp_loss
from ompq.PTQ.quant.reconstruction import LinearTempDecay, LossFunction
from ompq.shipped import SHIPPED

GOLDEN = Path(__file__).parents[2] / "golden" / "ompq"
J = json.loads((GOLDEN / "ptq_brecq_golden.json").read_text())
N = np.load(GOLDEN / "ptq_brecq_golden.npz")


def t(key):
    return torch.tensor(N[key])


def close(a, key, tol=1e-6):
    np.testing.assert_allclose(a.detach().numpy(), N[key], rtol=tol, atol=tol)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_mse_per_channel(bits):
    q = UniformAffineQuantizer(bits, channel_wise=True, scale_method="mse")
    out = q(t("W"))
    close(q.delta, f"uaq_w_mse_b{bits}_delta")
    close(q.zero_point, f"uaq_w_mse_b{bits}_zp")
    close(out, f"uaq_w_mse_b{bits}_out")


@pytest.mark.parametrize("bits", [4, 8])
def test_max_per_tensor_and_act_mse(bits):
    q = UniformAffineQuantizer(bits, scale_method="max")
    close(q(t("W")), f"uaq_w_max_pertensor_b{bits}_out")
    assert float(q.delta) == pytest.approx(J[f"uaq_w_max_pertensor_b{bits}"]["delta"], rel=1e-6)
    assert float(q.zero_point) == J[f"uaq_w_max_pertensor_b{bits}"]["zero_point"]
    a = UniformAffineQuantizer(bits, scale_method="mse", leaf_param=True)
    y = a(t("A"))
    close(y, f"uaq_act_mse_b{bits}_out")
    assert isinstance(a.delta, nn.Parameter)
    assert float(a.delta.detach()) == pytest.approx(J[f"uaq_act_mse_b{bits}"]["delta"], rel=1e-6)
    (y**2).sum().backward()  # the step-size gradient BRECQ's activation calibration learns from
    expected = J[f"uaq_act_mse_b{bits}"]["grad_delta_of_sum_sq"]
    assert float(a.delta.grad) == pytest.approx(expected, rel=1e-4, abs=1e-2)


def test_adaround_and_regularizer():
    w = t("W")
    uaq = UniformAffineQuantizer(4, channel_wise=True, scale_method="mse")
    uaq(w)
    ada = AdaRoundQuantizer(uaq, w)
    # the golden's alpha_init aliases the later perturbed tensor: compare against perturbed - linspace
    shift = torch.linspace(-3, 3, w.numel()).reshape(w.shape)
    np.testing.assert_allclose(
        ada.alpha.detach().numpy(), N["ada_alpha_perturbed"] - shift.numpy(), atol=2e-6
    )
    close(ada.get_soft_targets(), "ada_soft_targets_init")
    ada.soft_targets = True
    close(ada(w), "ada_out_soft_init")
    ada.soft_targets = False
    close(ada(w), "ada_out_hard_init")
    with torch.no_grad():
        ada.alpha.add_(shift)
    ada.soft_targets = True
    close(ada(w), "ada_out_soft_perturbed")
    ada.soft_targets = False
    close(ada(w), "ada_out_hard_perturbed")
    h = ada.get_soft_targets()
    for b, value in J["round_reg_weight0.01"].items():
        assert rounding_regularizer(h, 0.01, float(b)).item() == pytest.approx(value, rel=1e-6)
    ada.round_mode = "nearest"
    close(ada(w), "ada_out_nearest")


def test_temperature_lp_loss_and_loss_sequence():
    decay = LinearTempDecay(20000, 0.2, 20, 2)
    for step, value in J["LinearTempDecay_20000_0.2_20_2"].items():
        assert decay(int(step)) == pytest.approx(value, rel=1e-12)
    pred, tgt = t("lp_pred"), t("lp_tgt")
    ref = J["lp_loss"]
    assert lp_loss(pred, tgt, 2).item() == pytest.approx(ref["p2_none"], rel=1e-6)
    assert lp_loss(pred, tgt, 2.4).item() == pytest.approx(ref["p2_4_none"], rel=1e-6)
    assert lp_loss(pred, tgt, 2.4, "all").item() == pytest.approx(ref["p2_4_all"], rel=1e-6)
    conv = nn.Conv2d(4, 8, 3, bias=False)
    conv.weight.data = t("W")
    m = QuantModule(conv, {"n_bits": 4, "channel_wise": True, "scale_method": "mse"}, {"n_bits": 8})
    m.weight_quantizer(t("W"))
    m.weight_quantizer = AdaRoundQuantizer(m.weight_quantizer, t("W"))
    loss = LossFunction(m, "relaxation", 0.01, 10, (20, 2), 0.0, 0.2, 2.0)
    seq = [loss(pred, tgt).item() for _ in range(10)]
    np.testing.assert_allclose(seq, J["LossFunction_seq_max10_warm0.2"], rtol=1e-6)


def test_fold_bn():
    bn = nn.BatchNorm2d(5)
    bn.weight.data, bn.bias.data = t("fold_bn_gamma"), t("fold_bn_beta")
    bn.running_mean, bn.running_var = t("fold_bn_mean"), t("fold_bn_var")
    conv = nn.Conv2d(3, 5, 3, bias=False)
    conv.weight.data = t("fold_conv_w")
    w, b = fold_bn_params(conv, bn)
    close(w, "fold_out_w")
    close(b, "fold_out_b")


def _describe(arch, bits):
    f = build_model(arch, 1000).eval()
    names = layer_names(f, 224)
    per_layer = None if bits is None else expand_bit_list(list(bits), f, 224)
    wq = {"n_bits": 2, "channel_wise": True, "scale_method": "mse"}
    q = QuantModel(fold_all_bn(f), wq, {"n_bits": 8, "scale_method": "mse", "leaf_param": True})
    q.set_first_last_layer_to_8bit()
    if per_layer is not None:
        q.set_mixed_precision([per_layer[n] for n in names])
    out = []
    for n, m in q.model.named_modules():
        if isinstance(m, BaseQuantBlock):
            out.append({"name": n, "block": type(m).__name__, "a_bits": m.act_quantizer.n_bits})
        elif isinstance(m, QuantModule):
            out.append({
                "name": n, "w_bits": m.weight_quantizer.n_bits, "a_bits": m.act_quantizer.n_bits,
                "disable_act_quant": m.disable_act_quant, "ignore_reconstruction": m.ignore_reconstruction,
                "shape": list(m.weight.shape),
            })  # fmt: skip
    return out


@pytest.mark.parametrize(
    ("key", "arch", "shipped"),
    [
        ("ptq_module_bits_resnet18_4.5Mb", "resnet18", "PTQ_resnet18_4.5Mb"),
        ("ptq_module_bits_resnet18_no_bitcfg", "resnet18", None),
        ("ptq_module_bits_mobilenetv2_1.3Mb", "mobilenet_v2", "PTQ_mobilenetv2_1.3Mb"),
    ],
)
def test_module_bits(key, arch, shipped):
    bits = None if shipped is None else SHIPPED[shipped].bits
    assert _describe(arch, bits) == J[key]
