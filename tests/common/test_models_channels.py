"""pytorchcv-style width arguments of the ResNet and ``mobilenetv2_w1`` builders (``channels``, ``init_block_channels``).

At the default widths a :class:`ChannelResNet` has exactly the standard model's state-dict keys and shapes; at
reduced widths every conv follows pytorchcv's rules (unit outputs ``channels[s][u]``, bottleneck inner width a
quarter of the output, a downsample where the stride is 2 or the width changes).
"""

from __future__ import annotations

import pytest
import torch
from torchvision.models.resnet import BasicBlock, Bottleneck

from common.models import ModelOptionError, build_model
from common.models.mobilenetv2_cv import STAGES
from common.models.torchvision_models import (
    RESNET18_CHANNELS,
    RESNET50_CHANNELS,
    RESNET101_CHANNELS,
    ChannelResNet,
)


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    ("name", "block", "channels"),
    [
        ("resnet18", BasicBlock, RESNET18_CHANNELS),
        ("resnet50", Bottleneck, RESNET50_CHANNELS),
        ("resnet101", Bottleneck, RESNET101_CHANNELS),
    ],
)
def test_default_widths_give_the_standard_state_dict(name, block, channels) -> None:
    with torch.device("meta"):
        standard = build_model(name, 10)
        ours = ChannelResNet(block, channels, 64, 10)
        explicit = build_model(name, 10, channels=[list(c) for c in channels], init_block_channels=64)
    assert _shapes(ours) == _shapes(standard)
    assert _shapes(explicit) == _shapes(standard)
    assert isinstance(explicit, ChannelResNet)


@pytest.mark.parametrize("name", ["resnet50_v1", "resnet101_v1"])
def test_v1_layouts_at_default_widths_keep_shapes_and_strides(name) -> None:
    with torch.device("meta"):
        standard = build_model(name, 10)
        ours = build_model(name, 10, init_block_channels=64)
    assert _shapes(ours) == _shapes(standard)
    strides = {n: m.stride for n, m in standard.named_modules() if isinstance(m, torch.nn.Conv2d)}
    assert {n: m.stride for n, m in ours.named_modules() if isinstance(m, torch.nn.Conv2d)} == strides


def test_mobilenetv2_w1_default_widths_give_the_standard_state_dict() -> None:
    with torch.device("meta"):
        standard = build_model("mobilenetv2_w1", 10)
        explicit = build_model(
            "mobilenetv2_w1", 10, channels=STAGES, init_block_channels=32, final_block_channels=1280
        )
    assert _shapes(explicit) == _shapes(standard)


def test_reduced_resnet18_follows_pytorchcv_widths() -> None:
    model = build_model("resnet18", 7, channels=[[8, 8], [16, 16], [24, 24], [32, 40]], init_block_channels=4)
    s = _shapes(model)
    assert s["conv1.weight"] == (4, 3, 7, 7)
    assert s["layer1.0.conv1.weight"] == (8, 4, 3, 3)
    assert s["layer1.0.downsample.0.weight"] == (8, 4, 1, 1)  # the stem width differs from the unit's
    assert "layer1.1.downsample.0.weight" not in s
    assert s["layer2.0.conv1.weight"] == (16, 8, 3, 3) and model.layer2[0].conv1.stride == (2, 2)
    assert s["layer4.1.conv1.weight"] == (40, 32, 3, 3)
    assert s["layer4.1.downsample.0.weight"] == (40, 32, 1, 1)  # a width change inside a stage
    assert s["fc.weight"] == (7, 40)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 7)


def test_reduced_resnet50_v1_bottlenecks() -> None:
    model = build_model(
        "resnet50_v1", 10, channels=[[32] * 3, [64] * 4, [128] * 6, [256, 256, 254]], init_block_channels=16
    )
    s = _shapes(model)
    assert s["layer1.0.conv1.weight"] == (8, 16, 1, 1)
    assert s["layer1.0.conv2.weight"] == (8, 8, 3, 3)
    assert s["layer1.0.conv3.weight"] == (32, 8, 1, 1)
    assert s["layer1.0.downsample.0.weight"] == (32, 16, 1, 1)
    assert model.layer2[0].conv1.stride == (2, 2) and model.layer2[0].conv2.stride == (1, 1)  # v1
    assert s["layer4.2.conv1.weight"] == (63, 256, 1, 1)  # 254 // 4
    assert s["layer4.2.conv3.weight"] == (254, 63, 1, 1) and s["layer4.2.bn3.weight"] == (254,)
    assert s["fc.weight"] == (10, 254)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 10)


def test_reduced_mobilenetv2_w1() -> None:
    channels = [[8], [12, 12], [16, 16, 16], [32, 32, 32, 32, 48, 48, 48], [80, 80, 80, 160]]
    model = build_model(
        "mobilenetv2_w1", 5, channels=channels, init_block_channels=16, final_block_channels=320
    )
    s = _shapes(model)
    assert s["features.init_block.conv.weight"] == (16, 3, 3, 3)
    assert s["features.stage1.unit1.conv1.conv.weight"] == (16, 16, 1, 1)  # the first unit does not expand
    assert s["features.stage2.unit1.conv1.conv.weight"] == (48, 8, 1, 1)  # 6 * c_in
    assert s["features.stage2.unit1.conv2.conv.weight"] == (48, 1, 3, 3)
    assert s["features.final_block.conv.weight"] == (320, 160, 1, 1)
    assert s["output.weight"] == (5, 320, 1, 1)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": [[8], [8], [8]]}, "4 stages"),
        ({"channels": [[8], [], [8], [8]]}, "stage 2"),
        ({"channels": [[8], [8], [0], [8]]}, "stage 3"),
        ({"init_block_channels": 0}, "init_block_channels"),
    ],
)
def test_bad_widths_are_errors(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        build_model("resnet18", 10, **kwargs)


def test_bottleneck_width_below_the_factor_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        build_model("resnet50", 10, channels=[[4], [4], [2], [4]])


def test_options_a_builder_does_not_take_or_published_weights() -> None:
    with pytest.raises(ModelOptionError, match="tiny_resnet does not take channels"):
        build_model("tiny_resnet", 10, channels=[[8], [8], [8], [8]])
    with pytest.raises(ModelOptionError, match="published weights"):
        build_model("resnet18", 10, pretrained=True, init_block_channels=32)
    # None options are dropped: the standard torchvision model
    assert type(build_model("resnet18", 10, channels=None)).__name__ == "ResNet"
