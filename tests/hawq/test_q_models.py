"""Quantized wrappers: original module names, every shipped scheme matched, layer map, pytorchcv renaming."""

from __future__ import annotations

import pytest
import torch

from common.layers import enumerate_arch
from hawq.bit_config import bit_config_dict
from hawq.utils.models import build_float_model, build_quantized_model, quantize_arch_dict
from hawq.utils.models.pytorchcv_weights import is_pytorchcv_resnet, pytorchcv_resnet_to_torchvision
from hawq.utils.quant_config import (
    QuantSettings,
    configure_quant_modules,
    freeze_model,
    scheme_module_bits,
    shipped_schemes,
)
from hawq.utils.quantization_utils.quant_modules import QuantAct

ARCHS = ["resnet18", "resnet50", "resnet50b", "resnet101", "mobilenetv2_w1"]


@pytest.fixture(scope="module")
def wrapped() -> dict[str, torch.nn.Module]:
    return {a: build_quantized_model(a, num_classes=10, input_size=64) for a in ARCHS}


@pytest.mark.parametrize("arch", ARCHS)
def test_every_shipped_scheme_matches_every_key(arch, wrapped) -> None:
    model = wrapped[arch]
    names = {n for n, _ in model.named_modules()}
    schemes = shipped_schemes(arch)
    assert schemes, arch
    for scheme in schemes:
        config = bit_config_dict[f"bit_config_{arch}_{scheme}"]
        missing = [k for k in config if k not in names]
        assert not missing, (scheme, missing[:3])
        bits = scheme_module_bits(arch, scheme, model)
        assert configure_quant_modules(model, bits, QuantSettings()) == len(config)


def test_four_bit_activations_switch_to_asymmetric(wrapped) -> None:
    model = wrapped["resnet18"]
    configure_quant_modules(model, scheme_module_bits("resnet18", "uniform4", model), QuantSettings())
    acts = {n: m for n, m in model.named_modules() if isinstance(m, QuantAct)}
    assert acts["stage1.unit1.quant_act1"].quant_mode == "asymmetric"
    assert acts["quant_input"].quant_mode == "symmetric" and acts["quant_input"].activation_bit == 8
    assert acts["stage1.unit1.quant_act_int32"].activation_bit == 16


@pytest.mark.parametrize("arch", ARCHS + ["tiny_resnet", "resnet20"])
def test_layer_map_covers_the_enumerated_layers(arch) -> None:
    spec = quantize_arch_dict[arch]
    model = build_quantized_model(arch, num_classes=10, input_size=64)
    layers = [info.name for info in enumerate_arch(spec.float_name, 64, 10)]
    assert list(model.layer_map) == layers
    modules = dict(model.named_modules())
    for weight, act in model.layer_map.values():
        assert hasattr(modules[weight], "weight_bit") and isinstance(modules[act], QuantAct)


def test_state_dict_keys_are_the_original_ones(wrapped) -> None:
    keys = set(wrapped["resnet50"].state_dict())
    for key in (
        "quant_init_convbn.conv.weight",
        "quant_init_convbn.bn.running_var",
        "quant_init_convbn.convbn_scaling_factor",
        "stage1.unit1.quant_identity_convbn.weight_integer",
        "stage3.unit6.quant_act2.x_min",
        "quant_act_output.act_scaling_factor",
        "quant_output.fc_scaling_factor",
        "quant_output.bias_integer",
    ):
        assert key in keys, key


@pytest.mark.parametrize("arch", ["tiny_resnet", "resnet20"])
def test_folded_8bit_resnet_tracks_the_float_model(arch: str) -> None:
    """8-bit integer-only units follow the float network (1.6 % / 1.9 %); for ResNet-20 this checks the option-A
    shortcut's identity (zero padding split across both ends, as the float model pads, gave 42 % when moved to one
    end)."""
    torch.manual_seed(0)
    fp = build_float_model(arch, 10).eval()
    model = build_quantized_model(arch, fp, input_size=32)
    bits = scheme_module_bits(arch, "uniform8", model)
    configure_quant_modules(model, bits, QuantSettings(act_range_momentum=0.99, fix_BN=True))
    model.eval()
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        model(x)
        freeze_model(model)
        err = (model(x) - fp(x)).norm() / fp(x).norm()
    assert err < 0.1


def _pytorchcv_name(key: str) -> str:
    """torchvision ResNet key -> pytorchcv key, written independently of the code under test."""
    head, _, tail = key.partition(".")
    if head in ("conv1", "bn1"):
        return f"features.init_block.conv.{'conv' if head == 'conv1' else 'bn'}.{tail}"
    if head == "fc":
        return f"output.{tail}"
    block, _, rest = tail.partition(".")
    unit = f"features.stage{head[len('layer') :]}.unit{int(block) + 1}"
    part, _, leaf = rest.partition(".")
    if part == "downsample":
        index, _, leaf = leaf.partition(".")
        return f"{unit}.identity_conv.{'conv' if index == '0' else 'bn'}.{leaf}"
    kind, k = part[:-1], part[-1]
    return f"{unit}.body.conv{k}.{'conv' if kind == 'conv' else 'bn'}.{leaf}"


def test_pytorchcv_resnet_keys_are_renamed_to_torchvision() -> None:
    tv_state = build_float_model("resnet50", 10).state_dict()
    cv_state = {_pytorchcv_name(k): v for k, v in tv_state.items()}
    assert "features.stage2.unit1.body.conv3.bn.running_mean" in cv_state
    assert is_pytorchcv_resnet(cv_state)
    renamed = pytorchcv_resnet_to_torchvision(cv_state)
    assert list(renamed) == list(tv_state)
    assert all(renamed[k] is tv_state[k] for k in tv_state)


def test_integer_lowering_refuses_the_resnet20_shortcut() -> None:
    from hawq.utils.integer_inference import lower

    model = build_quantized_model("resnet20", num_classes=10, input_size=32)
    configure_quant_modules(
        model, scheme_module_bits("resnet20", "uniform8", model), QuantSettings(fix_BN=True)
    )
    with pytest.raises(TypeError, match="option-A shortcuts of Q-ResNet20"):
        lower(model, torch.randn(2, 3, 32, 32))
