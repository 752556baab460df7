"""Search models from the original's ``cfg`` width lists (``ResNet_ImageNet(cfg=...)``, ``MobileNetV2(cfg=...)``)."""

import pytest
import torch

from common.models import build_model
from common.runtime import UsageError
from ompq.mixed_bit.search_model import (
    BASE_CFG,
    add_layer1_projection,
    build_search_model,
    check_cfg,
    model_from_cfg,
    parse_cfg,
)


def shapes(model):
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def test_base_cfg_lengths_and_values():
    assert len(BASE_CFG["resnet18"]) == 13 and len(BASE_CFG["resnet50"]) == 37
    assert BASE_CFG["resnet18"][:4] == (64, 64, 64, 64) and BASE_CFG["resnet18"][-3:] == (512, 512, 512)
    r50 = BASE_CFG["resnet50"]
    assert r50[:8] == (64, 64, 64, 256, 64, 64, 64, 64) and r50[-7:] == (512, 512, 2048, 512, 512, 512, 512)
    assert BASE_CFG["mobilenet_v2"] == (32, 16, 24, 32, 64, 96, 160, 320)


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2"])
def test_base_cfg_builds_the_registry_network(name):
    """At the default list the cfg builder gives the registry's network (ResNet-18: with OMPQ's layer1 projection)."""
    reference = build_model(name, 1000)
    if name == "resnet18":
        add_layer1_projection(reference)
    assert shapes(model_from_cfg(name, BASE_CFG[name], 1000)) == shapes(reference)


def test_reduced_resnet18_layout():
    cfg = [16, 8, 16, 12, 24, 32, 20, 40, 48, 36, 56, 64, 44]
    model = model_from_cfg("resnet18", cfg, 7, layer1_projection=False)  # 16 -> 16: no projection needed
    assert model.layer1[0].downsample is None and model.layer2[0].downsample is not None
    assert [model.layer1[0].conv1.out_channels, model.layer1[0].conv2.out_channels] == [8, 16]
    assert [model.layer1[1].conv1.out_channels, model.layer1[1].conv2.out_channels] == [12, 16]
    assert [model.layer4[0].conv1.out_channels, model.layer4[0].conv2.out_channels] == [56, 64]
    assert model.layer4[1].conv1.out_channels == 44 and model.fc.in_features == 64
    assert model.layer2[0].conv1.stride == (2, 2)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 7)
    with pytest.raises(UsageError, match="needs its projection"):
        model_from_cfg("resnet18", [16, 8, 24, *cfg[3:]], 7, layer1_projection=False)


def test_reduced_resnet50_layout():
    cfg = (
        [8]
        + [4, 5, 16, 6, 7, 4, 4]
        + [8, 8, 32]
        + [8, 8] * 3
        + [12, 12, 48]
        + [12, 12] * 5
        + [16, 16, 64, 16, 16, 9, 10]
    )
    model = model_from_cfg("resnet50", cfg, 3)
    block = model.layer1[0]
    assert (block.conv1.out_channels, block.conv2.out_channels, block.conv3.out_channels) == (4, 5, 16)
    assert block.downsample[0].in_channels == 8 and block.downsample[0].stride == (1, 1)
    assert (model.layer1[1].conv1.out_channels, model.layer1[1].conv2.out_channels) == (6, 7)
    assert model.layer2[0].conv2.stride == (2, 2) and model.layer2[0].conv1.stride == (1, 1)
    assert model.layer4[2].conv2.out_channels == 10 and model.fc.in_features == 64
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 3)


def test_reduced_mobilenet_v2_layout():
    model = model_from_cfg("mobilenet_v2", [24, 12, 16, 24, 40, 56, 88, 176], 6)
    assert model.features[0][0].out_channels == 24 and model.features[1].conv[0][0].in_channels == 24
    assert model.features[1].conv[1].out_channels == 12
    assert model.features[2].conv[0][0].out_channels == 72  # hidden = round(12 · 6)
    assert model.features[-1][0].out_channels == 1280 and model.classifier[-1].in_features == 1280
    assert not any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in model.modules())
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 6)


def test_check_and_parse_cfg():
    assert parse_cfg("None") is None and parse_cfg(None) is None and parse_cfg("[1, 2]") == [1, 2]
    for text in ("abc", "5"):
        with pytest.raises(UsageError, match="--cfg"):
            parse_cfg(text)
    with pytest.raises(UsageError, match="list of 8"):
        check_cfg("mobilenet_v2", [32, 16])
    with pytest.raises(UsageError, match="positive ints"):
        check_cfg("mobilenet_v2", [32, 16, 24, 32, 0, 96, 160, 320])
    with pytest.raises(UsageError, match="no width list"):
        check_cfg("tiny_resnet", [16])


def test_build_search_model_with_cfg(tmp_path):
    cfg = [16, 16, 24, 24, 32, 32, 32, 48, 48, 48, 64, 64, 64]
    model = build_search_model("resnet18", 10, cfg=cfg)
    assert model.layer1[0].downsample is not None  # 16 -> 24 needs it even under projection='auto'
    with pytest.raises(UsageError, match="layer1_projection off"):
        build_search_model("resnet18", 10, cfg=cfg, projection="off")
    with pytest.raises(UsageError, match="--pretrained"):
        build_search_model("resnet18", 10, cfg=cfg, pretrained=True)
    # the base list is the same as no list
    assert shapes(build_search_model("mobilenet_v2", 10, cfg=list(BASE_CFG["mobilenet_v2"]))) == shapes(
        build_model("mobilenet_v2", 10)
    )
    # an OMPQ-style checkpoint (DDP prefix, state_dict entry) of the reduced model loads back
    ckpt = tmp_path / "model_best.pth.tar"
    torch.save({"state_dict": {"module." + k: v for k, v in model.state_dict().items()}}, ckpt)
    loaded = build_search_model("resnet18", 10, ckpt, cfg=cfg)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())
