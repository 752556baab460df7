"""HAQ strategy lists <-> bit-config files, checked against haq/cost_golden.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.bitconfig import (
    BitConfigError,
    LayerBits,
    arch_layers,
    from_haq,
    read_bitconfig,
    to_haq,
    write_bitconfig,
)

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "golden" / "haq" / "cost_golden.json").read_text())
R50 = GOLDEN["resnet50_kmeans"]
MBV2 = GOLDEN["mobilenetv2_linear_strategy"]


def test_resnet50_layer_order_and_weights() -> None:
    layers = arch_layers("resnet50")
    assert [l.name for l in layers] == [x["name"] for x in R50["layers"]]
    assert [l.weight_params for l in layers] == [x["weights"] for x in R50["layers"]]


@pytest.mark.parametrize("which", ["readme", "finetune_py"])
def test_kmeans_strategies(which: str, tmp_path) -> None:
    strategy = R50[which]["strategy"]
    cfg = from_haq(strategy, "resnet50", source=f"HAQ README / finetune.py ({which})")
    assert cfg.arch == "resnet50" and cfg.extra["haq"]["mode"] == "kmeans"
    assert set(cfg.act_bits().values()) == {32}
    assert list(cfg.weight_bits().values()) == strategy
    weights = {l.name: l.weight_params for l in arch_layers("resnet50")}
    bits = sum(cfg.layers[n].w * w for n, w in weights.items())
    assert bits == R50[which]["quantized_weight_bits"]
    assert bits / (32 * sum(weights.values())) == pytest.approx(
        R50[which]["ratio_code_convention"], rel=1e-12
    )
    back = read_bitconfig(write_bitconfig(cfg, tmp_path / "haq.json"))
    assert to_haq(back) == strategy and to_haq(back, linear=False) == strategy


def test_mobilenetv2_linear_strategy() -> None:
    rows = MBV2["per_layer"]
    strategy = [[r["w_bit"], r["a_bit"]] for r in rows]
    layers = arch_layers("mobilenet_v2")
    assert len(layers) == len(rows) == 53
    for r, l in zip(rows, layers, strict=True):
        assert (r["cin"], r["cout"], r["groups"], r["weights"]) == (
            l.in_channels,
            l.out_channels,
            l.groups,
            l.weight_params,
        )
        if l.kind != "linear":
            assert (r["k"], r["stride"], r["in_hw"]) == (l.kernel[0], l.stride[0], l.in_hw[0])
    cfg = from_haq(strategy, "mobilenet_v2")
    assert cfg.extra["haq"]["mode"] == "linear"
    assert cfg.layers["features.0.0"] == LayerBits(8, 32)  # [8, -1]: the image is not quantized
    assert cfg.layers["classifier.1"] == LayerBits(8, 8)
    assert cfg.layers["features.2.conv.0.0"] == LayerBits(4, 6)
    assert to_haq(cfg) == strategy and to_haq(cfg, linear=True) == strategy
    assert to_haq(cfg, linear=False) == [w for w, _ in strategy]


def test_kmeans_to_linear() -> None:
    cfg = from_haq(R50["readme"]["strategy"], "resnet50")
    assert to_haq(cfg, linear=True) == [[w, -1] for w in R50["readme"]["strategy"]]


def test_errors() -> None:
    with pytest.raises(BitConfigError, match="53 quantizable layers"):
        from_haq([8] * 52, "mobilenet_v2")
    with pytest.raises(BitConfigError, match="mixes"):
        from_haq([8] * 52 + [[8, 8]], "mobilenet_v2")
    bad = list(R50["readme"]["strategy"])
    bad[5] = 0  # what an action of exactly 0 with min_bit 1 produces
    with pytest.raises(BitConfigError) as e:
        from_haq(bad, "resnet50")
    assert "'layer1.1.conv1'" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(BitConfigError, match="entry 3"):
        from_haq([[8, 8]] * 3 + [[8, 8, 8]] + [[8, 8]] * 49, "mobilenet_v2")
