"""The original's block-wise 8- and 20-entry ``--bit_cfg`` lists (issue 18 item 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from common.models import build_model
from common.runtime import UsageError
from ompq.PTQ.bit_list import expand_bit_list, layer_names
from ompq.PTQ.quant.fold_bn import fold_all_bn
from ompq.PTQ.quant.quant_model import QuantModel

GOLDEN = json.loads((Path(__file__).parents[2] / "golden" / "ompq" / "ptq_brecq_golden.json").read_text())


def _module_bits(arch: str, bits: list[int]) -> dict[str, int]:
    """Weight bits per QuantModule after the original's sequence: first/last at 8, then the list."""
    f = build_model(arch, 1000).eval()
    names = layer_names(f, 224)
    per_layer = expand_bit_list(bits, f, 224)
    q = QuantModel(fold_all_bn(f), {"n_bits": 2, "channel_wise": True, "scale_method": "mse"}, {"n_bits": 8})
    q.set_first_last_layer_to_8bit()
    q.set_mixed_precision([per_layer[n] for n in names if n in per_layer])
    return {n: m.weight_quantizer.n_bits for n, m in q.quant_modules()}


def test_eight_entries_match_the_original_on_resnet18():
    # the golden's list is not stored; [8, 7, ..., 2, 4] is the one whose expansion the golden shows
    got = _module_bits("resnet18", [8, 7, 6, 5, 4, 3, 2, 4])
    want = {m["name"]: m["w_bits"] for m in GOLDEN["ptq_module_bits_resnet18_len8_cfg"] if "w_bits" in m}
    assert got == want


def test_twenty_entries_cover_mobilenet_v2_block_by_block():
    bits = [2 + (i % 7) for i in range(20)]
    got = _module_bits("mobilenet_v2", bits)
    assert len(got) == 53
    for name, b in got.items():  # stem: entry 0; features.k: entry k; last 1x1 conv: 18; classifier: 19
        k = int(re.match(r"features\.(\d+)", name)[1]) if name.startswith("features.") else 19
        assert b == bits[k], name


def test_blockwise_list_too_long_for_the_model():
    with pytest.raises(UsageError, match="20 entries sets 53 layers"):
        expand_bit_list([4] * 20, build_model("tiny_resnet", 10), 32)
