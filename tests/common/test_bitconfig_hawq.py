"""HAWQ-V3 bit_config dicts <-> bit-config files, checked against the traced per-layer table (costs.json)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from common.bitconfig import (
    HAWQ_ARCHS,
    BitConfigError,
    LayerBits,
    arch_layers,
    canonical_hawq_keys,
    from_hawq,
    hawq_layer_keys,
    parse_hawq_key,
    read_bitconfig,
    to_hawq,
    write_bitconfig,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "hawq"
BIT_CONFIGS: dict = json.loads((GOLDEN / "bit_configs.json").read_text())
COSTS: dict = json.loads((GOLDEN / "costs.json").read_text())["configs"]
# inner-module keys that some shipped MobileNetV2 configs carry (harmless, hawq.md 4.4)
JUNK = {"features.stage4.unit5.conv1.conv", "features.stage4.unit5.conv1.bn"}


def _untag(v):
    return v[0] if isinstance(v, list) else v


@pytest.mark.parametrize("key", list(BIT_CONFIGS))
def test_round_trip_exact(key: str) -> None:
    arch, _ = parse_hawq_key(key)
    cfg = from_hawq(BIT_CONFIGS[key], arch, source=f"HAWQ-V3 bit_config.py: {key}")
    assert cfg.arch == HAWQ_ARCHS[arch] and cfg.method == "hawq"
    back = to_hawq(cfg)
    assert back == BIT_CONFIGS[key] and list(back) == list(BIT_CONFIGS[key])


@pytest.mark.parametrize("key", list(COSTS))
def test_layers_match_traced_table(key: str) -> None:
    """Every weight layer's (w, a), feeding QuantAct, MACs and weights equal the trace of the original model."""
    arch, _ = parse_hawq_key(key)
    cfg = from_hawq(BIT_CONFIGS[key], arch)
    keys = hawq_layer_keys(arch)
    ours_of = {wkey: name for name, (wkey, _) in keys.items()}
    info = {layer.name: layer for layer in arch_layers(cfg.arch)}
    rows = COSTS[key]["layers"]
    assert len(rows) == len(cfg.layers) == len(info)
    for row in rows:
        name = ours_of[row["name"]]
        assert (cfg.layers[name].w, cfg.layers[name].a) == (row["w_bit"], row["a_bit"]), (name, row)
        assert keys[name][1] == row["a_src"], (name, row)
        layer = info[name]
        assert (layer.macs, layer.weight_params, layer.bias_params) == (
            row["macs"],
            row["params"],
            row["bias"],
        )


@pytest.mark.parametrize("key", list(BIT_CONFIGS))
def test_canonical_dict_without_record(key: str) -> None:
    """Without extra["hawq"], to_hawq writes the complete canonical dict (requant points at 16 bits)."""
    arch, _ = parse_hawq_key(key)
    cfg = from_hawq(BIT_CONFIGS[key], arch)
    cfg.extra = {}
    out = to_hawq(cfg)
    expected = {k: _untag(v) for k, v in BIT_CONFIGS[key].items() if k not in JUNK}
    assert out == expected and list(out) == list(expected)
    assert list(out) == canonical_hawq_keys(arch)


def test_resnet_mapping_examples() -> None:
    keys = hawq_layer_keys("resnet18")
    assert keys["conv1"] == ("quant_init_block_convbn", "quant_input")
    assert keys["layer2.0.conv2"] == ("stage2.unit1.quant_convbn2", "stage2.unit1.quant_act1")
    assert keys["layer2.0.downsample.0"] == ("stage2.unit1.quant_identity_convbn", "stage2.unit1.quant_act")
    assert keys["fc"] == ("quant_output", "quant_act_output")
    keys50 = hawq_layer_keys("resnet50")
    assert keys50["conv1"] == ("quant_init_convbn", "quant_input")
    assert keys50["layer3.5.conv3"] == ("stage3.unit6.quant_convbn3", "stage3.unit6.quant_act2")


def test_resnet50b_is_torchvision_resnet50() -> None:
    cfg = from_hawq(BIT_CONFIGS["bit_config_resnet50b_uniform4"], "resnet50b")
    assert cfg.arch == "resnet50"
    assert cfg.layers["conv1"] == LayerBits(8, 8) and cfg.layers["fc"] == LayerBits(8, 8)
    assert {(lb.w, lb.a) for n, lb in cfg.layers.items() if n not in ("conv1", "fc")} == {(4, 4)}
    cfg.extra = {}
    assert to_hawq(cfg) == BIT_CONFIGS["bit_config_resnet50b_uniform4"]  # our resnet50 -> HAWQ resnet50b


def test_hook_tags_kept(tmp_path) -> None:
    d = BIT_CONFIGS["bit_config_inceptionv3_uniform4"]
    cfg = from_hawq(d, "inceptionv3")
    assert cfg.arch == "inception_v3" and cfg.layers["Conv2d_1a_3x3.conv"] == LayerBits(8, 8)
    assert cfg.layers["Mixed_7c.branch3x3_2a.conv"] == LayerBits(4, 4) and cfg.layers["fc"] == LayerBits(8, 8)
    back = read_bitconfig(write_bitconfig(cfg, tmp_path / "inception.json"))
    assert to_hawq(back) == d and back.extra["hawq"]["tags"] == {
        "features.q_init_block.q_input_activ": "hook"
    }


def test_tuple_tags_accepted() -> None:
    d = dict(BIT_CONFIGS["bit_config_mobilenetv2_w1_uniform8"])
    d["quant_input"] = (8, "hook")  # as written in bit_config.py
    cfg = from_hawq(d, "mobilenetv2_w1")
    assert cfg.layers["features.init_block.conv"] == LayerBits(8, 8)
    assert to_hawq(cfg)["quant_input"] == [8, "hook"]


def test_edit_then_convert_back() -> None:
    cfg = from_hawq(BIT_CONFIGS["bit_config_resnet18_uniform8"], "resnet18")
    cfg.layers["layer4.1.conv2"] = LayerBits(4, 4)
    out = to_hawq(cfg)
    assert out["stage4.unit2.quant_convbn2"] == 4 and out["stage4.unit2.quant_act1"] == 4
    assert out["stage4.unit2.quant_act_int32"] == 16


def test_shared_quantizer_conflict_named() -> None:
    cfg = from_hawq(BIT_CONFIGS["bit_config_resnet18_uniform8"], "resnet18")
    cfg.layers["layer3.0.downsample.0"] = LayerBits(8, 4)
    with pytest.raises(BitConfigError) as e:
        to_hawq(cfg)
    msg = str(e.value)
    assert "\n" not in msg and "layer3.0.conv1" in msg and "layer3.0.downsample.0" in msg


def test_missing_key_named() -> None:
    d = copy.deepcopy(BIT_CONFIGS["bit_config_resnet18_uniform8"])
    del d["stage3.unit2.quant_act1"]
    with pytest.raises(BitConfigError, match=r"stage3\.unit2\.quant_act1.*layer3\.1\.conv2"):
        from_hawq(d, "resnet18")


def test_bad_value_and_arch() -> None:
    d = dict(BIT_CONFIGS["bit_config_resnet18_uniform8"], quant_output="8")
    with pytest.raises(BitConfigError, match="quant_output"):
        from_hawq(d, "resnet18")
    d = dict(BIT_CONFIGS["bit_config_resnet18_uniform8"], quant_output=0)
    with pytest.raises(BitConfigError, match="'fc'"):
        from_hawq(d, "resnet18")
    with pytest.raises(BitConfigError, match="resnet18"):
        from_hawq({}, "vgg16")
    with pytest.raises(BitConfigError):
        parse_hawq_key("bit_config_vgg16_uniform4")
    assert parse_hawq_key("bit_config_resnet50b_uniform4") == ("resnet50b", "uniform4")
    assert parse_hawq_key("bit_config_mobilenetv2_w1_bops_0.5") == ("mobilenetv2_w1", "bops_0.5")
