"""OMPQ cost convention against the original counters (golden) and the published figures.

The shipped bit lists are in OMPQ's searchable-layer order (docs/ompq.md section 4.1); the local
helpers below map them onto our module names:

* ResNet-18 QAT (16 entries): entry 2k -> block k conv1, 2k+1 -> block k conv2 and its downsample;
  stem and fc fixed at W8A8.
* ResNet-18 PTQ (18 entries): entry 0 = stem, entries 1..16 as in QAT, entry 17 = fc.
* ResNet-50 QAT (48 entries): 3k -> block k conv1, 3k+1 -> conv2, 3k+2 -> conv3 and downsample.
* MobileNetV2 (53 entries): entry k = layer k of the enumeration.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from common.cost.convention import CostError
from common.cost.evaluate import arch_layers, evaluate_cost

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "ompq" / "cost_golden.json").read_text())
COUNTERS = GOLDEN["original_counters"]
R50_KEYS = {
    "16.0": "bit_config_resnet50_modelsize_16.0_a5_141BOP",
    "18.7": "bit_config_resnet50_modelsize_18.7_a5_156BOP",
    "21.2": "bit_config_resnet50_modelsize_21.2_a7_226BOP",
}


def arch_and_mode(key: str) -> tuple[str, str]:
    if "mobilenetv2" in key:
        return "mobilenet_v2", "PTQ"
    arch = "resnet50" if "resnet50" in key else "resnet18"
    return arch, ("PTQ" if key.startswith("PTQ") else "QAT")


def entry_layers(arch: str, mode: str) -> list[list[str]]:
    """Our layer names behind each entry of OMPQ's searchable-layer list."""
    layers = arch_layers(arch)
    if arch == "mobilenet_v2":
        return [[l.name] for l in layers]
    names = [l.name for l in layers]
    blocks = list(dict.fromkeys(n.rsplit(".", 1)[0] for n in names if n.startswith("layer") and ".conv" in n))
    convs = ("conv1", "conv2") if arch == "resnet18" else ("conv1", "conv2", "conv3")
    entries = []
    for block in blocks:
        for i, conv in enumerate(convs):
            group = [f"{block}.{conv}"]
            if i == len(convs) - 1 and f"{block}.downsample.0" in names:
                group.append(f"{block}.downsample.0")
            entries.append(group)
    if mode == "PTQ":
        entries = [[names[0]], *entries, [names[-1]]]
    return entries


def to_layer_bits(arch: str, mode: str, cfg: list[int], a: int) -> dict[str, tuple[int, int]]:
    """Per-layer (w, a) of a shipped list: QAT pins stem and fc at W8A8, PTQ has every layer at ``a``."""
    entries = entry_layers(arch, mode)
    assert len(entries) == len(cfg)
    layers = arch_layers(arch)
    bits = {}
    if mode == "QAT":
        bits[layers[0].name] = (8, 8)
        bits[layers[-1].name] = (8, 8)
    for group, b in zip(entries, cfg, strict=True):
        for name in group:
            bits[name] = (int(b), a)
    assert set(bits) == {l.name for l in layers}
    return bits


def report(key: str, a: int | None = None, convention: str = "ompq", extra: dict | None = None):
    arch, mode = arch_and_mode(key)
    entry = COUNTERS[key]
    bits = to_layer_bits(arch, mode, entry["cfg"], entry["abits"] if a is None else a)
    return evaluate_cost(arch, convention, layer_bits=bits, extra=extra)


@pytest.mark.parametrize("key", sorted(COUNTERS))
def test_per_entry_params_and_flops_equal_original_counters(key: str) -> None:
    arch, mode = arch_and_mode(key)
    entry = COUNTERS[key]
    rows = {r["name"]: r for r in report(key).rows}
    entries = entry_layers(arch, mode)
    assert [sum(rows[n]["params"] for n in g) for g in entries] == entry["params"]
    assert [sum(rows[n]["flops"] for n in g) for g in entries] == entry["flops"]
    if mode == "QAT":
        layers = arch_layers(arch)
        fl = (rows[layers[0].name], rows[layers[-1].name])
        assert sum(r["params"] for r in fl) == entry["first_last_params"]
        assert sum(r["flops"] for r in fl) == entry["first_last_flops"]


@pytest.mark.parametrize("key", sorted(COUNTERS))
def test_size_and_bops_equal_original_counters(key: str) -> None:
    entry = COUNTERS[key]
    totals = report(key).totals
    assert totals["size_Mb"] == pytest.approx(entry["size_MiB"], rel=1e-9)
    assert totals["GBOPs"] == pytest.approx(entry["bops_G_with_abits"], rel=1e-9)
    # feature_extract prints the same sum with a hard-coded activation width of 5
    assert report(key, a=5).totals["GBOPs"] == pytest.approx(entry["bops_G_as_printed_a5"], rel=1e-9)


@pytest.mark.parametrize("key", sorted(COUNTERS))
def test_fp32_size(key: str) -> None:
    arch, _ = arch_and_mode(key)
    totals = evaluate_cost(arch, "ompq", bits=(32, 32)).totals
    assert totals["size_Mb"] == pytest.approx(COUNTERS[key]["fp32_size_MiB"], rel=1e-12)


@pytest.mark.parametrize(
    ("key", "size", "gbops"),
    [
        ("bit_config_resnet18_modelsize_6.7_a8_97B", 6.7, 97),
        ("bit_config_resnet18_modelsize_6.7_a6_75B", 6.7, 75),
        (R50_KEYS["16.0"], 16.0, 141),
        (R50_KEYS["18.7"], 18.7, 156),
        (R50_KEYS["21.2"], 21.2, 226),
    ],
)
def test_published_qat_figures(key: str, size: float, gbops: int) -> None:
    totals = report(key).totals
    assert round(totals["size_Mb"], 1) == size
    # the README truncates BOPs to whole G (97.514 -> 97; every other row is the same either way)
    assert math.floor(totals["GBOPs"]) == gbops
    if key in GOLDEN["published"]:
        assert GOLDEN["published"][key] == [size, gbops]


PTQ_KEYS = sorted(k for k in COUNTERS if k.startswith("PTQ"))


@pytest.mark.parametrize("key", PTQ_KEYS)
def test_published_ptq_sizes(key: str) -> None:
    published = float(key.rsplit("_", 1)[1].removesuffix("Mb"))
    if key in GOLDEN["published"]:
        assert GOLDEN["published"][key][0] == published
    assert round(report(key).totals["size_Mb"], 1) == published


def test_all_published_ptq_budgets_are_covered() -> None:
    r18 = sorted(float(k.rsplit("_", 1)[1][:-2]) for k in PTQ_KEYS if "resnet18" in k)
    mbv2 = sorted(float(k.rsplit("_", 1)[1][:-2]) for k in PTQ_KEYS if "mobilenetv2" in k)
    assert r18 == [3.0, 3.5, 4.0, 4.5, 5.0, 5.5]
    assert mbv2 == [0.9, 1.1, 1.3, 1.5]


@pytest.mark.parametrize(("budget", "fixed"), [("16.0", 139.56), ("18.7", 154.96), ("21.2", 224.03)])
def test_resnet50_quirks_off(budget: str, fixed: float) -> None:
    key = R50_KEYS[budget]
    on = report(key)
    off = report(key, convention="ompq_fixed")
    override = report(key, extra={"ompq": {"quirks": False}})
    back_on = report(key, convention="ompq_fixed", extra={"ompq": {"quirks": True}})
    assert round(off.totals["GBOPs"], 2) == fixed
    assert override.totals == off.totals
    assert back_on.totals == on.totals
    assert off.totals["size_Mb"] == on.totals["size_Mb"]  # the quirks touch FLOPs only
    recount = GOLDEN["independent_recount"][f"qat_r50_{budget}_a{key.split('_a')[1][0]}"]["ompq_convention"]
    assert round(off.totals["GBOPs"], 3) == pytest.approx(recount[1], abs=1e-9)
    rows_on = {r["name"]: r for r in on.rows}
    rows_off = {r["name"]: r for r in off.rows}
    changed = sorted(n for n in rows_on if rows_on[n]["flops"] != rows_off[n]["flops"])
    assert changed == ["fc", "layer1.0.conv1"]
    assert rows_on["layer1.0.conv1"]["flops"] == 4 * rows_off["layer1.0.conv1"]["flops"]
    assert rows_on["fc"]["flops"] == (2 * 512 + 1) * 1000
    assert rows_off["fc"]["flops"] == (2 * 2048 + 1) * 1000


def test_quirks_only_affect_resnet50() -> None:
    key = "bit_config_resnet18_modelsize_6.7_a8_97B"
    assert report(key).totals == report(key, convention="ompq_fixed").totals


def test_qat_mapping_identity_conv_bits() -> None:
    # docs/ompq.md section 6.4: ResNet-18 identity convs at 8, 4, 4; ResNet-50 16.0 at 8, 8, 4, 4
    r18 = to_layer_bits("resnet18", "QAT", COUNTERS["bit_config_resnet18_modelsize_6.7_a8_97B"]["cfg"], 8)
    assert [r18[f"layer{s}.0.downsample.0"][0] for s in (2, 3, 4)] == [8, 4, 4]
    r50 = to_layer_bits("resnet50", "QAT", COUNTERS[R50_KEYS["16.0"]]["cfg"], 5)
    assert [r50[f"layer{s}.0.downsample.0"][0] for s in (1, 2, 3, 4)] == [8, 8, 4, 4]


def test_uniform_pins_stem_and_fc() -> None:
    rep = evaluate_cost("resnet18", "ompq", bits=(4, 4))
    rows = rep.rows
    assert (rows[0]["w"], rows[0]["a"]) == (8, 8)
    assert (rows[-1]["w"], rows[-1]["a"]) == (8, 8)
    assert all((r["w"], r["a"]) == (4, 4) for r in rows[1:-1])
    # W8A8 = HAWQ-V3's 11.1 MB / 116 GBOPs under the same conventions (spec section 7)
    w8 = evaluate_cost("resnet18", "ompq", bits=(8, 8)).totals
    assert round(w8["size_Mb"], 2) == 11.15
    assert round(w8["GBOPs"], 1) == 116.9
    fp = evaluate_cost("resnet18", "ompq", bits=(32, 32))
    assert all((r["w"], r["a"]) == (32, 32) for r in fp.rows)


@pytest.mark.parametrize(
    ("arch", "w", "size"),
    [("resnet18", 2, 2.79), ("resnet18", 4, 5.57), ("mobilenet_v2", 2, 0.84), ("mobilenet_v2", 4, 1.67)],
)
def test_uniform_points_of_ptq_figure(arch: str, w: int, size: float) -> None:
    bits = {l.name: (w, 8) for l in arch_layers(arch)}
    assert round(evaluate_cost(arch, "ompq", layer_bits=bits).totals["size_Mb"], 2) == size


def test_report_shape() -> None:
    rep = evaluate_cost("mobilenet_v2", "ompq", bits=(4, 8))
    assert set(rep.totals) == {"size_Mb", "GBOPs", "params", "flops"}
    assert set(rep.units) == set(rep.totals)
    assert {"name", "w", "a", "params", "flops"} <= set(rep.rows[0])
    assert rep.totals["params"] == sum(r["params"] for r in rep.rows)
    assert rep.rows[-1]["flops"] == (2 * 1280 - 1) * 1000


@pytest.mark.parametrize("arch", ["resnet50_v1", "resnet34"])
def test_other_archs_rejected(arch: str) -> None:
    with pytest.raises(CostError):
        evaluate_cost(arch, "ompq", bits=(8, 8))
