"""ProQHA quantizer bit lists <-> bit-config files, checked against proqha/cost.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.bitconfig import (
    BitConfigError,
    LayerBits,
    arch_layers,
    from_proqha,
    proqha_quant_layers,
    read_bitconfig,
    to_proqha,
    write_bitconfig,
)

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "golden" / "proqha" / "cost.json").read_text())
CASES = [
    ("imagenet/resnet18", "resnet18", "WA"),
    ("imagenet/resnet50", "resnet50", "AW"),
    ("cifar10/resnet2020", "resnet20", "AW"),
]


@pytest.mark.parametrize("key, arch, order", CASES)
def test_mixed_lists(key: str, arch: str, order: str, tmp_path) -> None:
    g = GOLDEN[key]
    quant = proqha_quant_layers(arch)
    assert quant == g["weight_layer_names"]
    info = {l.name: l for l in arch_layers(arch)}
    sizes = [info[n].weight_params for n in quant]
    assert sizes == g["wsize_list"]
    for mixed in g["mixed"]:
        bits = mixed["bits"]
        assert len(bits) == g["n_quantizers"] == 2 * len(quant)
        cfg = from_proqha(bits, arch)
        assert cfg.extra["proqha"]["order"] == order
        assert to_proqha(cfg) == bits
        assert to_proqha(read_bitconfig(write_bitconfig(cfg, tmp_path / "p.json"))) == bits
        # true weight-storage ratio from our weight bits
        true_w = sum(cfg.layers[n].w * s for n, s in zip(quant, sizes, strict=True)) / (32 * sum(sizes))
        assert true_w == pytest.approx(mixed["cost_using_true_weight_bits"], rel=1e-12)
        # the original counter pairs weight layer j with position 2j+1: for WA that is the input bits of the
        # next quantized conv (of fc for the last one)
        if order == "WA":
            consumers = [*quant[1:], "fc"]
            odd = [cfg.layers[n].a for n in consumers]
        else:
            odd = [cfg.layers[n].w for n in quant]
        orig = sum(b * s for b, s in zip(odd, sizes, strict=True)) / (32 * sum(sizes))
        assert orig == pytest.approx(mixed["cost_original"], rel=1e-12)


def test_resnet18_wa_layout() -> None:
    bits = GOLDEN["imagenet/resnet18"]["mixed"][0]["bits"]
    cfg = from_proqha(bits, "resnet18")
    assert cfg.layers["conv1"] == LayerBits(32, 32)  # FP stem on the image
    assert cfg.layers["layer1.0.conv1"] == LayerBits(bits[0], 32)  # max-pool output is not quantized
    assert cfg.layers["layer1.0.conv2"] == LayerBits(bits[2], bits[1])
    # downsample of layer2.0 reads layer1.1.relu2 (position 7), like layer2.0.conv1
    assert cfg.layers["layer2.0.conv1"] == LayerBits(bits[8], bits[7])
    assert cfg.layers["layer2.0.downsample.0"] == LayerBits(32, bits[7])
    assert cfg.layers["fc"] == LayerBits(32, bits[31])


def test_resnet50_aw_layout() -> None:
    bits = GOLDEN["imagenet/resnet50"]["mixed"][1]["bits"]
    cfg = from_proqha(bits, "resnet50", order="AW")
    assert cfg.layers["layer1.0.conv1"] == LayerBits(bits[1], bits[0])
    assert cfg.layers["layer1.0.conv3"] == LayerBits(bits[5], bits[4])
    assert cfg.layers["layer1.0.downsample.0"] == LayerBits(32, bits[0])  # the pre-activated block input
    assert cfg.layers["conv1"] == LayerBits(32, 32) and cfg.layers["fc"] == LayerBits(32, 32)


def test_edit_and_custom_layers() -> None:
    bits = [8] * 32
    cfg = from_proqha(bits, "resnet18")
    cfg.layers["layer3.1.conv1"] = LayerBits(3, 5)
    out = to_proqha(cfg)
    assert out[20] == 3 and out[19] == 5 and sum(b != 8 for b in out) == 2
    quant = ["layer1.0.conv1", "layer1.0.conv2"]
    cfg = from_proqha([4, 5, 6, 7], "resnet18", order="AW", quant_layers=quant)
    assert cfg.layers["layer1.0.conv2"] == LayerBits(7, 6) and cfg.layers["layer1.1.conv1"] == LayerBits(
        32, 32
    )
    assert to_proqha(cfg) == [4, 5, 6, 7]


def test_errors() -> None:
    with pytest.raises(BitConfigError, match="must have 32 entries"):
        from_proqha([8] * 31, "resnet18")
    with pytest.raises(BitConfigError, match="order"):
        from_proqha([8] * 32, "resnet18", order="WW")
    with pytest.raises(BitConfigError, match="'layer9.conv1'"):
        from_proqha([8] * 2, "resnet18", quant_layers=["layer9.conv1"])
    bits = [8] * 32
    bits[4] = 0
    with pytest.raises(BitConfigError, match="'layer1.1.conv1'"):
        from_proqha(bits, "resnet18")
