"""Q-ResNet and Q-MobileNetV2 around reduced-width float models (pytorchcv's ``channels``/``init_block_channels``).

A narrow ResNet-18/50 (and MobileNetV2) builds through ``hawq.utils.models``, wraps with the original module
names, takes the shipped ``uniform8`` scheme, runs a forward, and every quantized module has the float layer's
shape; the units' outputs have the expected widths and spatial sizes.
"""

from __future__ import annotations

import pytest
import torch

from common.runtime import UsageError
from hawq.utils.models import build_float_model, build_quantized_model
from hawq.utils.quant_config import (
    QuantSettings,
    configure_quant_modules,
    freeze_model,
    scheme_module_bits,
    uniform_module_bits,
)

RESNET18_NARROW = [[16, 16], [32, 32], [64, 64], [128, 128]]
RESNET50_NARROW = [[64] * 3, [128] * 4, [256] * 6, [512] * 3]
MOBILENETV2_NARROW = [[8], [12, 12], [16, 16, 16], [32, 32, 32, 32, 48, 48, 48], [80, 80, 80, 160]]
SIZE = 64


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _weight_shape(module: torch.nn.Module) -> tuple[int, ...]:
    weight = module.conv.weight if hasattr(module, "conv") else module.weight
    return tuple(weight.shape)


def _check_layer_shapes(qmodel: torch.nn.Module, fp: torch.nn.Module) -> None:
    """Every entry of ``layer_map`` holds the float layer's weight shape."""
    float_modules, q_modules = dict(fp.named_modules()), dict(qmodel.named_modules())
    for layer, (weight, _) in qmodel.layer_map.items():
        assert _weight_shape(q_modules[weight]) == tuple(float_modules[layer].weight.shape), layer


def _unit_outputs(qmodel: torch.nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    seen: dict[str, tuple[int, ...]] = {}
    hooks = [
        unit.register_forward_hook(lambda m, i, o, n=name: seen.__setitem__(n, tuple(o[0].shape)))
        for name, unit in qmodel.units()
    ]
    try:
        with torch.no_grad():
            out = qmodel(x)
    finally:
        for h in hooks:
            h.remove()
    seen["output"] = tuple(out.shape)
    return seen


def _uniform8(arch: str, qmodel: torch.nn.Module) -> None:
    """The shipped ``uniform8`` scheme, BN folded with the float statistics (as the 8-bit tracking test does)."""
    bits = scheme_module_bits(arch, "uniform8", qmodel)
    settings = QuantSettings(act_range_momentum=0.99, fix_BN=True)
    assert configure_quant_modules(qmodel, bits, settings) == len(bits)


def test_narrow_resnet18_wraps_and_runs_uniform8() -> None:
    torch.manual_seed(0)
    fp = build_float_model("resnet18", 10, channels=RESNET18_NARROW, init_block_channels=16).eval()
    qmodel = build_quantized_model("resnet18", fp, input_size=SIZE)
    _check_layer_shapes(qmodel, fp)
    sd = qmodel.state_dict()
    assert tuple(sd["quant_init_block_convbn.conv.weight"].shape) == (16, 3, 7, 7)
    assert tuple(sd["stage2.unit1.quant_convbn1.conv.weight"].shape) == (32, 16, 3, 3)
    assert tuple(sd["stage2.unit1.quant_identity_convbn.conv.weight"].shape) == (32, 16, 1, 1)
    assert tuple(sd["stage4.unit2.quant_convbn2.conv.weight"].shape) == (128, 128, 3, 3)
    assert tuple(sd["quant_output.weight"].shape) == (10, 128)
    assert qmodel.final_pool.kernel_size == 2  # 64 -> 32 (stem) -> 16 (max-pool) -> 8 -> 4 -> 2
    _uniform8("resnet18", qmodel)
    qmodel.eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    shapes = _unit_outputs(qmodel, x)
    assert shapes["stage1.unit2"] == (2, 16, 16, 16)
    assert shapes["stage2.unit1"] == (2, 32, 8, 8)
    assert shapes["stage3.unit2"] == (2, 64, 4, 4)
    assert shapes["stage4.unit2"] == (2, 128, 2, 2)
    assert shapes["output"] == (2, 10)
    with torch.no_grad():
        freeze_model(qmodel)
        q, f = qmodel(x), fp(x)
    assert torch.isfinite(q).all()
    assert (q - f).norm() / f.norm() < 0.1


def test_narrow_resnet50_wraps_and_runs_uniform8() -> None:
    torch.manual_seed(1)
    fp = build_float_model("resnet50", 10, channels=RESNET50_NARROW, init_block_channels=16).eval()
    assert fp.layer2[0].conv1.stride == (2, 2)  # HAWQ's resnet50 is pytorchcv's v1 layout
    qmodel = build_quantized_model("resnet50", fp, input_size=SIZE)
    _check_layer_shapes(qmodel, fp)
    sd = qmodel.state_dict()
    assert tuple(sd["quant_init_convbn.conv.weight"].shape) == (16, 3, 7, 7)
    assert tuple(sd["stage1.unit1.quant_convbn1.conv.weight"].shape) == (16, 16, 1, 1)
    assert tuple(sd["stage1.unit1.quant_convbn3.conv.weight"].shape) == (64, 16, 1, 1)
    assert tuple(sd["stage1.unit1.quant_identity_convbn.conv.weight"].shape) == (64, 16, 1, 1)
    assert tuple(sd["stage3.unit6.quant_convbn2.conv.weight"].shape) == (64, 64, 3, 3)
    assert tuple(sd["quant_output.weight"].shape) == (10, 512)
    _uniform8("resnet50", qmodel)
    qmodel.eval()
    shapes = _unit_outputs(qmodel, torch.randn(2, 3, SIZE, SIZE))
    assert shapes["stage1.unit3"] == (2, 64, 16, 16)
    assert shapes["stage2.unit1"] == (2, 128, 8, 8)
    assert shapes["stage3.unit6"] == (2, 256, 4, 4)
    assert shapes["stage4.unit3"] == (2, 512, 2, 2)
    assert shapes["output"] == (2, 10)


def test_narrow_mobilenetv2_wraps_and_runs_uniform8() -> None:
    torch.manual_seed(2)
    qmodel = build_quantized_model(
        "mobilenetv2_w1",
        num_classes=10,
        input_size=SIZE,
        channels=MOBILENETV2_NARROW,
        init_block_channels=16,
        final_block_channels=320,
    )
    sd = qmodel.state_dict()
    assert tuple(sd["init_block.conv.weight"].shape) == (16, 3, 3, 3)
    assert tuple(sd["features.stage2.unit1.conv1.conv.weight"].shape) == (48, 8, 1, 1)
    assert tuple(sd["features.final_block.conv.weight"].shape) == (320, 160, 1, 1)
    assert tuple(sd["output.weight"].shape) == (10, 320, 1, 1)
    _uniform8("mobilenetv2_w1", qmodel)
    qmodel.eval()
    shapes = _unit_outputs(qmodel, torch.randn(2, 3, SIZE, SIZE))
    assert shapes["features.stage4.unit7"] == (2, 48, 4, 4)
    assert shapes["features.stage5.unit4"] == (2, 160, 2, 2)
    assert shapes["output"] == (2, 10)


def test_width_change_inside_a_stage_adds_an_identity_conv() -> None:
    """pytorchcv gives a unit an identity conv wherever its width changes; the wrapper follows the float model."""
    fp = build_float_model(
        "resnet18", 10, channels=[[16, 24], [32, 32], [64, 64], [128, 128]], init_block_channels=16
    )
    qmodel = build_quantized_model("resnet18", fp, input_size=SIZE)
    assert "layer1.1.downsample.0" in qmodel.layer_map
    assert not qmodel.stage1["unit1"].resize_identity and qmodel.stage1["unit2"].resize_identity
    configure_quant_modules(qmodel, uniform_module_bits(qmodel, 8), QuantSettings())
    qmodel.eval()
    assert _unit_outputs(qmodel, torch.randn(1, 3, SIZE, SIZE))["stage1.unit2"] == (1, 24, 16, 16)


def test_width_errors_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="tiny_resnet does not take channels"):
        build_float_model("tiny_resnet", 10, channels=RESNET18_NARROW)
    with pytest.raises(UsageError, match="published weights"):
        build_float_model("resnet18", 10, pretrained=True, init_block_channels=16)
    with pytest.raises(UsageError, match="4 stages"):
        build_float_model("resnet50", 10, channels=RESNET50_NARROW[:3])
    with pytest.raises(UsageError, match="build_float_model"):
        build_quantized_model("resnet18", build_float_model("resnet18", 10), channels=RESNET18_NARROW)


@pytest.mark.parametrize(
    ("arch", "size", "kernel"), [("mobilenetv2_w1", 224, 7), ("mobilenetv2_w1", 64, 2), ("resnet50", 224, 7)]
)
def test_final_pool_kernel_is_the_last_feature_map(arch, size, kernel) -> None:
    """MobileNetV2's classifier is a 1x1 conv after the pool; the kernel comes from the map before it (it was 1)."""
    with torch.device("meta"):
        fp = build_float_model(arch, 10)
    qmodel = build_quantized_model(arch, fp, input_size=size)
    pool = qmodel.features.final_pool if arch.startswith("mobilenet") else qmodel.final_pool
    assert pool.kernel_size == kernel
