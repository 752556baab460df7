"""Per-entry parameter and FLOP counts against the original's counters, restated layer by layer from the shapes.

The original charges every searchable entry through ``cfg2params_perlayer`` / ``cfg2flops_layerwise`` of its
``ResNet_ImageNet`` and ``MobileNetV2`` (docs/ompq.md §7). :func:`resnet_counts` and :func:`mobilenet_counts`
below state what those functions do for a width list ``cfg``, one conv at a time:

* a conv C_in -> C_out with a k x k kernel (groups g) is charged C_in·k·k·C_out/g + 2·C_out parameters (weights,
  BN γ and β) and (C_in·k·k·C_out/g + e·C_out)·r² FLOPs at resolution r, e = 5 for the ResNets (BN + ReLU) and
  e = 0 for MobileNetV2;
* ResNets: r = 56, 28, 14, 7 per stage (224 hard-coded); the projection of the first block of a stage is added to
  that block's output entry, EXCEPT in a BasicBlock stage 1, which the original skips (its search ResNet-18 has a
  layer1 projection that costs nothing); ResNet-50 projections are charged in every stage; the first conv1 of
  each ResNet-50 stage is counted at twice the stage's resolution (right for stages 2-4, whose input has it; a
  quirk in stage 1); the stem (7x7/2 at 112) and the fc ((C_fc + 1)·classes parameters, (2·cfg[-1] + 1)·classes
  FLOPs, cfg[-1] the last block's inner width) are the first/last entries for PTQ or the fixed FL part for QAT;
* MobileNetV2: r = 112 after the stem and halved by every stride-2 group; the expand conv of a group's first block
  is counted at that block's input resolution; t=1 blocks have two entries (dw, projection), the others three
  (expand, dw, projection); then the 1x1 conv to 1280 and the fc: (1280 + 1)·classes parameters, (2·1280 − 1)·classes
  FLOPs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.layers import enumerate_layers
from ompq.mixed_bit.search_model import (
    BASE_CFG,
    MBV2_GROUPS,
    RESNET_BLOCKS,
    build_search_model,
    model_from_cfg,
)
from ompq.mixed_bit.searchable import cost_key, entry_costs, fc_flops_width, fixed_layers, searchable_entries

GOLDEN = Path(__file__).parents[2] / "golden" / "ompq"
COUNTERS = json.loads((GOLDEN / "cost_golden.json").read_text())["original_counters"]
CLASSES = 1000


def _conv(c_in: int, k: int, c_out: int, r: int, extra: int, groups: int = 1) -> tuple[int, int]:
    weights = c_in * k * k * c_out // groups
    return weights + 2 * c_out, (weights + extra * c_out) * r * r


def resnet_counts(cfg: list[int], depth: int, quant_type: str) -> tuple[list[int], int, list[int], int]:
    """(params per entry, FL params, FLOPs per entry, FL FLOPs) as the original counts its ResNet_ImageNet."""
    params: list[int] = []
    flops: list[int] = []

    def add(*convs: tuple[int, int]) -> None:
        params.append(sum(p for p, _ in convs))
        flops.append(sum(f for _, f in convs))

    stem = _conv(3, 7, cfg[0], 112, 5)
    fc_in = cfg[-5] if depth == 50 else cfg[-2]  # the last stage's output width
    fc = ((fc_in + 1) * CLASSES, (2 * cfg[-1] + 1) * CLASSES)
    if quant_type == "PTQ":
        add(stem)
    c_in, pos, r = cfg[0], 1, 56
    for stage, n in enumerate(RESNET_BLOCKS[depth]):
        if stage:
            r //= 2
        if depth == 50:
            w1, w2, c = cfg[pos : pos + 3]
            pos += 3
            add(_conv(c_in, 1, w1, 2 * r, 5))
            add(_conv(w1, 3, w2, r, 5))
            add(_conv(w2, 1, c, r, 5), _conv(c_in, 1, c, r, 5))
            for _ in range(n - 1):
                w1, w2 = cfg[pos : pos + 2]
                pos += 2
                add(_conv(c, 1, w1, r, 5))
                add(_conv(w1, 3, w2, r, 5))
                add(_conv(w2, 1, c, r, 5))
        else:
            w1, c = cfg[pos : pos + 2]
            pos += 2
            add(_conv(c_in, 3, w1, r, 5))
            if stage == 0:  # the layer1 projection is not charged
                add(_conv(w1, 3, c, r, 5))
            else:
                add(_conv(w1, 3, c, r, 5), _conv(c_in, 1, c, r, 5))
            for _ in range(n - 1):
                w = cfg[pos]
                pos += 1
                add(_conv(c, 3, w, r, 5))
                add(_conv(w, 3, c, r, 5))
        c_in = c
    if quant_type == "PTQ":
        add(fc)
        return params, 0, flops, 0
    return params, stem[0] + fc[0], flops, stem[1] + fc[1]


def mobilenet_counts(cfg: list[int]) -> tuple[list[int], int, list[int], int]:
    """The same for the original's MobileNetV2 (all layers in the list, FL = 0)."""
    params: list[int] = []
    flops: list[int] = []

    def add(conv: tuple[int, int]) -> None:
        params.append(conv[0])
        flops.append(conv[1])

    r = 112
    add(_conv(3, 3, cfg[0], r, 0))
    c_in = cfg[0]
    for (t, n, s), c in zip(MBV2_GROUPS, cfg[1:], strict=True):
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = round(c_in * t)
            r_in, r = r, r // stride
            if t != 1:
                add(_conv(c_in, 1, hidden, r_in, 0))
            add(_conv(hidden, 3, hidden, r, 0, groups=hidden))
            add(_conv(hidden, 1, c, r, 0))
            c_in = c
    add(_conv(c_in, 1, 1280, r, 0))
    params.append((1280 + 1) * CLASSES)
    flops.append((2 * 1280 - 1) * CLASSES)
    return params, 0, flops, 0


def original_counts(name: str, cfg: list[int], quant_type: str) -> tuple[list[int], int, list[int], int]:
    if name == "mobilenet_v2":
        return mobilenet_counts(cfg)
    return resnet_counts(cfg, 50 if name == "resnet50" else 18, quant_type)


def project_counts(model, name: str, quant_type: str) -> tuple[list[int], int, list[int], int]:
    entries = searchable_entries(model, quant_type)
    infos = enumerate_layers(model, 224)
    return entry_costs(
        entries, fixed_layers(model, quant_type), infos, cost_key(name, model), fc_in=fc_flops_width(model)
    )


GOLDEN_CASES = [
    ("resnet18", "QAT", "bit_config_resnet18_modelsize_6.7_a6_75B"),
    ("resnet18", "PTQ", "PTQ_resnet18_4.5Mb"),
    ("resnet50", "QAT", "bit_config_resnet50_modelsize_16.0_a5_141BOP"),
    ("mobilenet_v2", "PTQ", "PTQ_mobilenetv2_1.5Mb"),
]


@pytest.mark.parametrize(("name", "mode", "key"), GOLDEN_CASES)
def test_restated_formulas_equal_the_original_counters(name, mode, key):
    params, fl_p, flops, fl_f = original_counts(name, list(BASE_CFG[name]), mode)
    gold = COUNTERS[key]
    assert params == gold["params"] and fl_p == gold["first_last_params"]
    assert flops == gold["flops"] and fl_f == gold["first_last_flops"]


@pytest.mark.parametrize("mode", ["QAT", "PTQ"])
def test_search_resnet18_with_layer1_projection_is_charged_as_the_original(mode):
    """OMPQ's search ResNet-18 (``--layer1_projection`` on/auto with its checkpoints) costs what the original says."""
    model = build_search_model("resnet18", CLASSES, projection="on")
    assert model.layer1[0].downsample is not None
    entries = searchable_entries(model, mode)
    assert not any("layer1.0.downsample.0" in e.layers for e in entries)
    assert [e.layers for e in entries if "layer2.0.conv2" in e.layers] == [
        ("layer2.0.conv2", "layer2.0.downsample.0")
    ]
    got = project_counts(model, "resnet18", mode)
    assert got == original_counts("resnet18", list(BASE_CFG["resnet18"]), mode)
    # the layer1.0 block-output entry: 64·9·64 + 2·64 = 36,992 (41,216 if the projection were charged)
    assert got[0][1 if mode == "QAT" else 2] == 36992


def test_resnet50_charges_every_projection():
    model = build_search_model("resnet50", CLASSES)
    shared = [e.layers for e in searchable_entries(model, "QAT") if len(e.layers) > 1]
    assert shared == [(f"layer{s}.0.conv3", f"layer{s}.0.downsample.0") for s in range(1, 5)]
    assert project_counts(model, "resnet50", "QAT") == original_counts(
        "resnet50", list(BASE_CFG["resnet50"]), "QAT"
    )


def test_mobilenet_v2_costs_match_the_original():
    model = build_search_model("mobilenet_v2", CLASSES)
    assert project_counts(model, "mobilenet_v2", "PTQ") == mobilenet_counts(list(BASE_CFG["mobilenet_v2"]))


REDUCED = {
    # stem 48 ≠ 32 and block 1 keeps 48 -> 48 (so it has a residual), other groups narrower
    "mobilenet_v2": [48, 48, 16, 24, 40, 72, 120, 240],
    # layer1.0: 32 -> 48 (needs its projection), inner widths differ from the outputs, last inner width 200
    "resnet18": [32, 24, 48, 40, 96, 112, 64, 160, 176, 128, 256, 384, 200],
    "resnet50": [32]
    + [16, 24, 128, 20, 18, 12, 22]
    + [40, 36, 256, 30, 30, 28, 26, 24, 34]
    + [60, 70, 384] + [50, 52, 54, 56, 58, 60, 62, 64, 66, 68]
    + [100, 110, 640, 90, 96, 120, 136],
}  # fmt: skip


@pytest.mark.parametrize(("name", "mode"), [("resnet18", "QAT"), ("resnet18", "PTQ"), ("resnet50", "QAT"),
                                            ("mobilenet_v2", "PTQ")])  # fmt: skip
def test_reduced_cfg_builds_and_costs_match_the_original(name, mode):
    cfg = REDUCED[name]
    model = model_from_cfg(name, cfg, CLASSES)
    assert len(searchable_entries(model, mode)) == len(original_counts(name, cfg, mode)[0])
    assert project_counts(model, name, mode) == original_counts(name, cfg, mode)
