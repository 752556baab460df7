"""OMPQ MobileNetV2: the search's ``mobilenet_v2`` bit config drives QAT's ``mobilenetv2_w1`` (issue 18 item 2)."""

from __future__ import annotations

import pytest

from common.bitconfig import write_bitconfig
from common.bitconfig.file import BitConfigError
from common.bitconfig.ompq import from_ompq, mobilenet_v2_to_w1, read_for_arch
from hawq.utils.models import build_float_model, build_quantized_model
from hawq.utils.quant_config import bitconfig_module_bits


def test_search_config_rekeyed_for_qat(tmp_path):
    bits = (
        [8, 2, 3] + [4] * 47 + [5, 6, 7]
    )  # the 53-entry list: stem, block 1 [dw, project], ..., last 1x1, fc
    path = tmp_path / "bit_config.json"
    write_bitconfig(from_ompq(bits, "mobilenet_v2", "ptq", 6), path)
    cfg = read_for_arch(path, "mobilenetv2_w1")
    assert cfg.arch == "mobilenetv2_w1" and len(cfg.layers) == 54
    w = cfg.weight_bits()
    # pytorchcv's block 1 has a 1x1 conv before its depthwise one: it takes the depthwise conv's bits
    assert w["features.init_block.conv"] == 8
    assert w["features.stage1.unit1.conv1.conv"] == w["features.stage1.unit1.conv2.conv"] == 2
    assert w["features.stage1.unit1.conv3.conv"] == 3
    assert (w["features.final_block.conv"], w["output"]) == (6, 7)
    assert sorted(w.values()) == sorted([*bits, 2])
    model = build_quantized_model("mobilenetv2_w1", build_float_model("mobilenetv2_w1", 1000), input_size=224)
    module_bits = bitconfig_module_bits(cfg, model, ("mobilenetv2_w1", "mobilenetv2_w1"))
    for layer, (weight, act) in model.layer_map.items():
        assert module_bits[weight] == w[layer] and module_bits[act] == 6


def test_rekey_rejects_other_archs():
    with pytest.raises(BitConfigError, match="mobilenet_v2"):
        mobilenet_v2_to_w1(from_ompq([4] * 18, "resnet18", "ptq", 8))
