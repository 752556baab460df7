"""OMPQ's ``QAT/bit_config.py``: the five shipped schemes as HAWQ-V3 module-name dicts (docs/ompq.md §4.2, §6.4).

Built from the searchable-layer bit lists of :mod:`ompq.shipped` with the fixed parts every scheme shares:
``quant_input`` 8, the stem conv 8, every ``quant_act_int32`` 16, ``quant_act_output`` 8, ``quant_output`` 8, and
the scheme's activation bits on every unit's ``quant_act``/``quant_act1``/``quant_act2``. Entry ``2k``/``2k+1``
(ResNet-18) or ``3k``/``3k+1``/``3k+2`` (ResNet-50) of a list go to unit ``k``'s convs in stage/unit order; the
last conv's bit also goes to the unit's ``quant_identity_convbn``. Key: ``bit_config_<arch>_<quant_scheme>``.
"""

from __future__ import annotations

from ompq.shipped import SHIPPED

REQUANT_BITS = 16
IO_BITS = 8
#: units per stage, convs per unit, stem name and which units carry a projection (stage, unit)
_LAYOUT = {
    "resnet18": ((2, 2, 2, 2), 2, "quant_init_block_convbn", {(2, 1), (3, 1), (4, 1)}),
    "resnet50": ((3, 4, 6, 3), 3, "quant_init_convbn", {(1, 1), (2, 1), (3, 1), (4, 1)}),
}


def module_bits(arch: str, weights: tuple[int, ...] | list[int], a_bits: int) -> dict[str, int]:
    """HAWQ-V3 module name -> bits for a searchable-layer weight list of ``arch`` (resnet18 or resnet50)."""
    units, n_conv, stem, projected = _LAYOUT[arch]
    if len(weights) != sum(units) * n_conv:
        raise ValueError(f"{arch} needs {sum(units) * n_conv} weight bits, got {len(weights)}")
    out = {"quant_input": IO_BITS, stem: IO_BITS, "quant_act_int32": REQUANT_BITS}
    k = 0
    for s, count in enumerate(units, start=1):
        for u in range(1, count + 1):
            pre = f"stage{s}.unit{u}."
            out[pre + "quant_act"] = a_bits
            for c in range(1, n_conv + 1):
                if c > 1:
                    out[pre + f"quant_act{c - 1}"] = a_bits
                out[pre + f"quant_convbn{c}"] = int(weights[k])
                k += 1
            if (s, u) in projected:
                out[pre + "quant_identity_convbn"] = int(weights[k - 1])
            out[pre + "quant_act_int32"] = REQUANT_BITS
    out["quant_act_output"] = IO_BITS
    out["quant_output"] = IO_BITS
    return out


bit_config_dict: dict[str, dict[str, int]] = {
    key: module_bits(cfg.arch, cfg.bits, cfg.a_bits) for key, cfg in SHIPPED.items() if cfg.mode == "qat"
}
