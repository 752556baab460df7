"""OMPQ bit lists <-> bit-config files, checked against ompq/cost_golden.json (the original counters)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.bitconfig import (
    BitConfigError,
    LayerBits,
    arch_layers,
    from_ompq,
    ompq_entries,
    read_bitconfig,
    to_hawq,
    to_ompq,
    write_bitconfig,
)

GOLDEN = json.loads(
    (Path(__file__).resolve().parents[1] / "golden" / "ompq" / "cost_golden.json").read_text()
)
COUNTERS = GOLDEN["original_counters"]


def _arch_mode(name: str) -> tuple[str, str]:
    if name.startswith("bit_config_resnet18"):
        return "resnet18", "qat"
    if name.startswith("bit_config_resnet50"):
        return "resnet50", "qat"
    return ("resnet18", "ptq") if "resnet18" in name else ("mobilenet_v2", "ptq")


@pytest.mark.parametrize("name", list(COUNTERS))
def test_shipped_lists(name: str, tmp_path) -> None:
    arch, mode = _arch_mode(name)
    counter = COUNTERS[name]
    cfg = from_ompq(counter["cfg"], arch, mode, counter["abits"], source=name)
    assert cfg.extra["ompq"] == {"mode": mode, "a_bits": counter["abits"]}
    assert to_ompq(cfg) == counter["cfg"] and to_ompq(cfg, mode) == counter["cfg"]
    back = read_bitconfig(write_bitconfig(cfg, tmp_path / "ompq.json"))
    assert back == cfg and to_ompq(back) == counter["cfg"]
    # the original parameter counter per entry = weights + bias + BN affine of the layers we map to it
    info = {l.name: l for l in arch_layers(arch)}
    entries = ompq_entries(arch, mode)
    params = [
        sum(info[n].weight_params + info[n].bias_params + info[n].bn_params for n in e) for e in entries
    ]
    assert params == counter["params"]
    fixed = [n for n in info if not any(n in e for e in entries)]
    assert (
        sum(info[n].weight_params + info[n].bias_params + info[n].bn_params for n in fixed)
        == counter["first_last_params"]
    )
    a = counter["abits"]
    for n, lb in cfg.layers.items():
        assert lb == (LayerBits(8, 8) if n in fixed else LayerBits(lb.w, a)), n
    assert fixed == (["conv1", "fc"] if mode == "qat" else [])


def test_resnet18_entries() -> None:
    qat = ompq_entries("resnet18", "qat")
    assert qat[:3] == [["layer1.0.conv1"], ["layer1.0.conv2"], ["layer1.1.conv1"]]
    assert qat[5] == ["layer2.0.conv2", "layer2.0.downsample.0"]
    ptq = ompq_entries("resnet18", "ptq")
    assert ptq[0] == ["conv1"] and ptq[-1] == ["fc"] and ptq[1:-1] == qat
    r50 = ompq_entries("resnet50", "qat")
    assert r50[2] == ["layer1.0.conv3", "layer1.0.downsample.0"] and len(r50) == 48
    mbv2 = ompq_entries("mobilenet_v2", "ptq")
    assert mbv2[:3] == [["features.0.0"], ["features.1.conv.0.0"], ["features.1.conv.1"]]
    assert mbv2[-2:] == [["features.18.0"], ["classifier.1"]]


def test_qat_configs_as_hawq_bit_config() -> None:
    """ompq.md 6.4: identity convs of the R18 config are 8/4/4, R50 16.0 are 8/8/4/4; acts at the config's bits."""
    c = COUNTERS["bit_config_resnet18_modelsize_6.7_a6_75B"]
    d = to_hawq(from_ompq(c["cfg"], "resnet18", "qat", 6))
    assert [d[f"stage{s}.unit1.quant_identity_convbn"] for s in (2, 3, 4)] == [8, 4, 4]
    assert d["quant_input"] == d["quant_init_block_convbn"] == d["quant_act_output"] == d["quant_output"] == 8
    assert {v for k, v in d.items() if k.endswith(("quant_act", "quant_act1"))} == {6}
    assert {v for k, v in d.items() if "int32" in k} == {16}
    c = COUNTERS["bit_config_resnet50_modelsize_16.0_a5_141BOP"]
    d = to_hawq(from_ompq(c["cfg"], "resnet50_v1", "qat", 5))  # OMPQ's QAT trains the v1 model
    assert [d[f"stage{s}.unit1.quant_identity_convbn"] for s in (1, 2, 3, 4)] == [8, 8, 4, 4]
    assert d["stage3.unit4.quant_convbn2"] == 5


def test_errors() -> None:
    with pytest.raises(BitConfigError, match="must have 16 entries, got 18"):
        from_ompq([4] * 18, "resnet18", "qat", 8)
    with pytest.raises(BitConfigError, match="not for resnet50 ptq"):
        from_ompq([4] * 48, "resnet50", "ptq", 8)
    with pytest.raises(BitConfigError, match="mode"):
        from_ompq([4] * 16, "resnet18", "int8", 8)
    with pytest.raises(BitConfigError, match="'layer2.0.conv1'"):
        from_ompq([8] * 4 + [0] + [8] * 11, "resnet18", "qat", 8)
    cfg = from_ompq([8] * 16, "resnet18", "qat", 8)
    cfg.layers["layer3.0.downsample.0"].w = 4
    with pytest.raises(BitConfigError) as e:
        to_ompq(cfg)
    assert "layer3.0.conv2" in str(e.value) and "layer3.0.downsample.0" in str(e.value)
    cfg.extra = {}
    with pytest.raises(BitConfigError, match="mode"):
        to_ompq(cfg)
