"""HAWQ-V3 ``QuantBnConv2d`` and ``QuantAveragePool2d`` against the original's golden vectors (spec §3.4).

Golden data: ``tests/golden/hawq/quant_modules.npz`` keys ``qbn_*`` and ``qpool_*`` (see
``shared/golden/hawq/README.md``). Integer arrays (``wint``, ``bint``) must match exactly; float arrays to
rtol 1e-5 (gradients: also 1e-6 of the array's largest element, see ``_check_grads``). Folded-conv outputs additionally get an absolute slack of 1e-3 output LSB, as for ``QuantConv2d``
(``x / s_in`` is not re-rounded, quirk 21), and their rounded integer values must match exactly.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hawq.utils.quantization_utils.quant_modules import QuantAveragePool2d, QuantBnConv2d


def close(actual: torch.Tensor, expected: torch.Tensor, atol: float = 0.0) -> None:
    actual = actual.detach()
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=atol)


def exact(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual.detach(), expected, rtol=0, atol=0)


def _conv_bn(g: dict[str, torch.Tensor]) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False)
    bn = nn.BatchNorm2d(4, eps=float(g["qbn_eps"]))
    with torch.no_grad():
        conv.weight.copy_(g["qbn_conv_w"])
        bn.weight.copy_(g["qbn_gamma"])
        bn.bias.copy_(g["qbn_beta"])
        bn.running_mean.copy_(g["qbn_rmean"])
        bn.running_var.copy_(g["qbn_rvar"])
    return conv, bn


def _module(
    g: dict[str, torch.Tensor], bits: int, fix_bn: bool, threshold: int | None = None
) -> QuantBnConv2d:
    qbn = QuantBnConv2d(bits, 32, per_channel=True, fix_BN=fix_bn, fix_BN_threshold=threshold)
    qbn.set_param(*_conv_bn(g))
    return qbn


def _check_grads(
    g: dict[str, torch.Tensor], qbn: QuantBnConv2d, x: torch.Tensor, out: torch.Tensor, key: str
) -> None:
    out.backward(g[f"{key}_gout"])
    # Gradients are sums of terms of both signs: where the conv backward sums in another order (AVX-512 / AMX
    # kernels of a Sapphire Rapids CPU) a near-cancelling element moves by more than 1e-5 of itself (4.4e-8
    # on an element of 2.9e-3 in an array whose largest is 1.08), so they also get 1e-6 of their largest.
    for grad, want in ((x.grad, g[f"{key}_gx"]), (qbn.conv.weight.grad, g[f"{key}_gconvw"])):
        close(grad, want, atol=1e-6 * float(want.abs().max()))
    close(qbn.bn.weight.grad, g[f"{key}_ggamma"])
    close(qbn.bn.bias.grad, g[f"{key}_gbeta"])
    close(qbn.bn.running_mean, g[f"{key}_rmean_after"])
    close(qbn.bn.running_var, g[f"{key}_rvar_after"])


@pytest.mark.parametrize("bits", [4, 8])
def test_quant_bn_conv2d_folded_golden(g: dict[str, torch.Tensor], bits: int) -> None:
    key = f"qbn_fold_b{bits}"
    qbn = _module(g, bits, fix_bn=True)
    x = g["qbn_x"].clone().requires_grad_(True)
    out, wsf = qbn(x, g["qbn_x_sf"])
    close(wsf, g[f"{key}_wsf"])
    exact(qbn.weight_integer, g[f"{key}_wint"])
    exact(qbn.bias_integer, g[f"{key}_bint"])
    close(qbn.folded_weight_and_bias()[1], g[f"{key}_scaled_bias"])
    lsb = (wsf * g["qbn_x_sf"]).view(1, -1, 1, 1)
    close(out, g[f"{key}_out"], atol=1e-3 * lsb.max().item())
    exact(torch.round(out.detach() / lsb), torch.round(g[f"{key}_out"] / lsb))
    _check_grads(g, qbn, x, out, key)


@pytest.mark.parametrize("bits", [4, 8])
def test_quant_bn_conv2d_training_golden(g: dict[str, torch.Tensor], bits: int) -> None:
    key = f"qbn_train_b{bits}"
    qbn = _module(g, bits, fix_bn=False)
    assert qbn.bn.momentum == 0.99
    x = g["qbn_x"].clone().requires_grad_(True)
    out, sf = qbn(x, g["qbn_x_sf"])
    close(out, g[f"{key}_out"])
    close(sf, g[f"{key}_wsf"])
    _check_grads(g, qbn, x, out, key)


def test_quant_bn_conv2d_threshold_counter_golden(g: dict[str, torch.Tensor]) -> None:
    qbn = _module(g, 8, fix_bn=False, threshold=4)
    seen = []
    for _ in range(6):
        qbn(g["qbn_x"], g["qbn_x_sf"])
        seen.append(int(qbn.fix_BN))
    assert seen == g["qbn_threshold4_fixBN_per_call"].tolist()


def test_quant_bn_conv2d_fix_unfix_modes(g: dict[str, torch.Tensor]) -> None:
    qbn = _module(g, 8, fix_bn=False)
    qbn.fix()
    rmean = qbn.bn.running_mean.clone()
    out, wsf = qbn((g["qbn_x"], g["qbn_x_sf"]))
    assert qbn.fix_BN and qbn.counter == 1  # frozen: no counting, folded, running stats untouched
    assert torch.equal(qbn.bn.running_mean, rmean)
    assert torch.equal(wsf, qbn.convbn_scaling_factor)
    qbn.unfix()
    assert not qbn.fix_BN
    qbn(g["qbn_x"], g["qbn_x_sf"])
    assert qbn.counter == 2 and not torch.equal(qbn.bn.running_mean, rmean)


def test_quant_bn_conv2d_folded_with_conv_bias_per_tensor() -> None:
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.3, 0.3)
    qbn = QuantBnConv2d(8, 32, per_channel=False, fix_BN=True)
    qbn.set_param(conv, bn)
    assert bn.momentum == 0.1  # the caller's BN is not modified
    s_in = torch.tensor([0.02])
    x = torch.randint(-100, 100, (2, 3, 6, 6)).float() * s_in
    out, wsf = qbn(x, s_in)
    assert wsf.dim() == 0
    std = torch.sqrt(bn.running_var + bn.eps)
    w_f = conv.weight * (bn.weight / std).view(-1, 1, 1, 1)
    b_f = (conv.bias - bn.running_mean) * bn.weight / std + bn.bias
    s_w = w_f.detach().abs().max() / 127
    torch.testing.assert_close(wsf, s_w)
    w_int = torch.clamp(torch.round(w_f.detach() / s_w), -128, 127)
    b_int = torch.round(b_f.detach() / (s_w * s_in))
    assert torch.equal(qbn.weight_integer, w_int) and torch.equal(qbn.bias_integer, b_int)
    ref = nn.functional.conv2d(x / s_in, w_int, b_int, padding=1) * (s_w * s_in)
    torch.testing.assert_close(out.detach(), ref)


def test_quant_average_pool2d_golden(g: dict[str, torch.Tensor]) -> None:
    pool = QuantAveragePool2d(kernel_size=7, stride=1)
    x = g["qpool_x"].clone().requires_grad_(True)
    out, sf = pool(x, g["qpool_sf"])
    close(out, g["qpool_out"])
    exact(torch.round(out.detach() / g["qpool_sf"]), torch.round(g["qpool_out"] / g["qpool_sf"]))
    assert sf is g["qpool_sf"]
    out.sum().backward()  # STE round and STE trunc: gradient of a plain 7×7 average
    torch.testing.assert_close(x.grad, torch.full_like(x, 1 / 49))


def test_quant_average_pool2d_truncates_and_passes_float_without_scale() -> None:
    s = torch.tensor([0.5])
    x = torch.zeros(1, 1, 7, 7)
    x[0, 0, 0, :6] = 8 * s  # sum 48 → average 48/49 → trunc to 0
    out, _ = QuantAveragePool2d()((x, s))
    assert torch.equal(out, torch.zeros(1, 1, 1, 1))
    x[0, 0, 0, 6] = 1 * s  # sum 49 → exactly 1
    out, _ = QuantAveragePool2d()(x, s)
    assert torch.equal(out, s.view(1, 1, 1, 1))
    y = torch.randn(2, 3, 7, 7)
    out, sf = QuantAveragePool2d()(y)
    assert sf is None and torch.allclose(out, y.mean(dim=(2, 3), keepdim=True))


def test_standard_bn_option_matches_pytorch_batchnorm() -> None:
    """--standard-bn (quirk 7 fixed): the unfolded path normalises and tracks statistics like nn.BatchNorm2d."""
    torch.manual_seed(0)
    conv, bn = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False), torch.nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
    qbn = QuantBnConv2d(weight_bit=8, bias_bit=32, per_channel=True)
    qbn.set_param(conv, bn)
    qbn.standard_bn = True
    x = torch.randn(6, 3, 8, 8)
    out, _ = qbn(x)
    reference_bn = torch.nn.BatchNorm2d(4).train()
    reference_bn.load_state_dict(bn.state_dict())
    lo = conv.weight.detach().reshape(4, -1).abs().amax(1) / 127
    w_deq = torch.round(conv.weight.detach() / lo.view(-1, 1, 1, 1)).clamp(-128, 127) * lo.view(-1, 1, 1, 1)
    expected = reference_bn(torch.nn.functional.conv2d(x, w_deq, padding=1))
    assert torch.allclose(out, expected, rtol=1e-4, atol=1e-5)
    assert torch.allclose(qbn.bn.running_mean, reference_bn.running_mean, rtol=1e-4, atol=1e-6)
    assert torch.allclose(qbn.bn.running_var, reference_bn.running_var, rtol=1e-4, atol=1e-6)
    qbn.standard_bn = False
    faithful, _ = qbn(x)
    assert not torch.allclose(
        faithful, expected, rtol=1e-6, atol=1e-7
    )  # the default keeps the unbiased variance
