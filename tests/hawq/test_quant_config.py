"""Scheme names and aliases, the portable bit-config path, KD loss, checkpoint loading helpers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from common.bitconfig import BitConfigError, uniform_bitconfig
from common.runtime import UsageError
from hawq.utils.checkpoints import load_quantized_state, quantized_checkpoint
from hawq.utils.distill import loss_kd
from hawq.utils.models import build_quantized_model
from hawq.utils.quant_config import (
    QuantSettings,
    bitconfig_module_bits,
    canonical_scheme,
    configure_quant_modules,
    scheme_module_bits,
    uniform_module_bits,
)


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    return build_quantized_model("tiny_resnet", num_classes=10, input_size=32)


@pytest.mark.parametrize(
    ("alias", "name"),
    [("size0.75", "modelsize_0.75"), ("bops0.5", "bops_0.5"), ("latency0.25", "latency_0.25"),
     ("modelsize_0.5", "modelsize_0.5"), ("uniform4", "uniform4")],
)  # fmt: skip
def test_model_zoo_aliases(alias, name) -> None:
    assert canonical_scheme(alias) == name


def test_unknown_scheme_lists_the_valid_ones(tiny) -> None:
    r18 = build_quantized_model("resnet18", num_classes=10, input_size=32)
    with pytest.raises(UsageError, match="bops_0.5") as info:
        scheme_module_bits("resnet18", "bops_0.4", r18)
    assert "uniform8" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(UsageError, match="uniform8, uniform4"):
        scheme_module_bits("tiny_resnet", "bops_0.5", tiny)


def test_generated_uniform4_follows_the_shipped_rule(tiny) -> None:
    bits = uniform_module_bits(tiny, 4)
    assert bits["quant_input"] == bits["quant_init_block_convbn"] == 8
    assert bits["quant_act_output"] == bits["quant_output"] == 8
    assert bits["stage2.unit1.quant_identity_convbn"] == bits["stage2.unit1.quant_act1"] == 4
    assert bits["quant_act_int32"] == bits["stage4.unit1.quant_act_int32"] == 16


def test_bitconfig_file_maps_w_and_a_to_modules(tiny) -> None:
    cfg = uniform_bitconfig("tiny_resnet", 4, 4, num_classes=10, input_size=32)
    cfg.layers["layer3.0.conv2"].w = 2
    cfg.layers["layer3.0.conv2"].a = 6
    bits = bitconfig_module_bits(cfg, tiny, ("tiny_resnet",))
    assert bits["stage3.unit1.quant_convbn2"] == 2 and bits["stage3.unit1.quant_act1"] == 6
    assert bits["stage3.unit1.quant_act_int32"] == 16


def test_bitconfig_errors_name_the_layers(tiny) -> None:
    cfg = uniform_bitconfig("tiny_resnet", 4, 4, num_classes=10, input_size=32)
    cfg.layers["layer9.0.conv1"] = cfg.layers.pop("layer2.0.conv1")
    with pytest.raises(BitConfigError, match=r"layer9\.0\.conv1.*layer2\.0\.conv1"):
        bitconfig_module_bits(cfg, tiny, ("tiny_resnet",))
    cfg = uniform_bitconfig("tiny_resnet", 4, 4, num_classes=10, input_size=32)
    cfg.layers["layer2.0.downsample.0"].a = 8  # shares quant_act with layer2.0.conv1 (a=4)
    with pytest.raises(BitConfigError, match="share the input quantizer"):
        bitconfig_module_bits(cfg, tiny, ("tiny_resnet",))
    with pytest.raises(BitConfigError, match="resnet18"):
        bitconfig_module_bits(uniform_bitconfig("resnet18", 4, 4), tiny, ("tiny_resnet",))


def test_kd_loss_reductions() -> None:
    torch.manual_seed(0)
    s, t, y = torch.randn(6, 10), torch.randn(6, 10), torch.randint(0, 10, (6,))
    kl_sum = (F.softmax(t / 6, 1) * (F.log_softmax(t / 6, 1) - F.log_softmax(s / 6, 1))).sum()
    ce = F.cross_entropy(s, y)
    expected_mean = kl_sum / 60 * 0.95 * 36 + 0.05 * ce
    expected_batchmean = kl_sum / 6 * 0.95 * 36 + 0.05 * ce
    assert torch.allclose(loss_kd(s, y, t), expected_mean, rtol=1e-5)
    assert torch.allclose(loss_kd(s, y, t, reduction="batchmean"), expected_batchmean, rtol=1e-5)


def test_quantized_state_roundtrip_and_0d_ranges(tiny) -> None:
    configure_quant_modules(tiny, uniform_module_bits(tiny, 8), QuantSettings(fix_BN=True))
    tiny.eval()
    tiny(torch.randn(2, 3, 32, 32))
    state = tiny.state_dict()
    state["quant_input.x_max"] = state["quant_input.x_max"].reshape(
        ()
    )  # the original's 0-d buffers (quirk 6)
    fresh = build_quantized_model("tiny_resnet", num_classes=10, input_size=32)
    loaded, skipped = load_quantized_state(fresh, {"module." + k: v for k, v in state.items()} | state)
    assert loaded > 0 and all(k.startswith("module.") for k in skipped)
    assert torch.equal(fresh.quant_input.x_max, tiny.quant_input.x_max)
    ckpt = quantized_checkpoint(tiny)
    assert set(ckpt) == {"convbn_scaling_factor", "fc_scaling_factor", "weight_integer", "bias_integer",
                         "act_scaling_factor"}  # fmt: skip
    assert "stage1.unit1.quant_convbn1.convbn_scaling_factor" in ckpt["convbn_scaling_factor"]


@pytest.mark.parametrize("below", [0, 8])
def test_asymmetric_acts_below_extends_the_4_bit_rule(below: int) -> None:
    model = build_quantized_model("tiny_resnet", num_classes=10, input_size=32)
    cfg = uniform_bitconfig("tiny_resnet", 4, 4, keep_first_last=8, num_classes=10, input_size=32)
    for name, a in (("layer1.0.conv1", 3), ("layer1.0.conv2", 4), ("layer2.0.conv2", 6)):
        cfg.layers[name].a = a
    bits = bitconfig_module_bits(cfg, model, ("tiny_resnet",))
    configure_quant_modules(model, bits, QuantSettings(asymmetric_acts_below=below))
    modes = {}
    for layer, (_, act) in model.layer_map.items():
        modes[layer] = model.get_submodule(act).quant_mode
    assert modes["layer1.0.conv2"] == "asymmetric"  # 4 bits: the original's rule either way
    assert modes["conv1"] == modes["fc"] == "symmetric"  # 8 bits never change
    expected = "asymmetric" if below == 8 else "symmetric"
    assert modes["layer1.0.conv1"] == modes["layer2.0.conv2"] == expected
