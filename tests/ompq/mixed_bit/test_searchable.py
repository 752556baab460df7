"""Searchable-layer lists (§4.1) against the original's per-layer parameter counts and common.bitconfig.ompq."""

import json
from pathlib import Path

import pytest

from common.bitconfig.ompq import ompq_entries
from common.layers import enumerate_arch
from common.models import build_model
from ompq.mixed_bit.searchable import cost_key, entry_costs, fixed_layers, searchable_entries

GOLDEN = Path(__file__).parents[2] / "golden" / "ompq"
COUNTERS = json.loads((GOLDEN / "cost_golden.json").read_text())["original_counters"]


@pytest.mark.parametrize(
    ("arch", "mode", "key", "length"),
    [
        ("resnet18", "QAT", "bit_config_resnet18_modelsize_6.7_a6_75B", 16),
        ("resnet50", "QAT", "bit_config_resnet50_modelsize_16.0_a5_141BOP", 48),
        ("resnet18", "PTQ", "PTQ_resnet18_4.5Mb", 18),
        ("mobilenet_v2", "PTQ", "PTQ_mobilenetv2_1.5Mb", 53),
    ],
)
def test_entries_and_costs(arch, mode, key, length):
    model = build_model(arch, 1000)
    entries = searchable_entries(model, mode)
    assert len(entries) == length
    assert [list(e.layers) for e in entries] == ompq_entries(arch, mode.lower())
    params, fl_p, flops, fl_f = entry_costs(
        entries, fixed_layers(model, mode), enumerate_arch(arch, 224, 1000), cost_key(arch, model)
    )
    assert params == COUNTERS[key]["params"]
    assert fl_p == COUNTERS[key]["first_last_params"]
    assert flops == COUNTERS[key]["flops"]
    assert fl_f == COUNTERS[key]["first_last_flops"]


def test_resnet20_entries_cover_its_block_convs():
    """ResNet-20 (an addition for the cross-method benchmark): one entry per block conv, the option-A shortcuts add
    no layer; conv1 and fc fixed; the parameters charged are each conv's C_in·k·k·C_out + 2·C_out (conv + BN)."""
    from ompq.mixed_bit.searchable import fc_flops_width

    model = build_model("resnet20", 10)
    entries = searchable_entries(model, "QAT")
    layers = enumerate_arch("resnet20", 32, 10)
    block_convs = [info.name for info in layers if info.name.startswith("layer")]
    assert [e.layers for e in entries] == [(n,) for n in block_convs] and len(entries) == 18
    assert fixed_layers(model, "QAT") == ("conv1", "fc") and fc_flops_width(model) == 64
    params, fl_p, _, _ = entry_costs(entries, fixed_layers(model, "QAT"), layers, cost_key("resnet20", model))
    convs = {n: m for n, m in model.named_modules() if n in block_convs}
    assert params == [m.weight.numel() + 2 * m.out_channels for m in convs.values()]
    assert fl_p == (3 * 9 * 16 + 2 * 16) + (64 + 1) * 10
