"""HAQ (Wang et al., CVPR 2019) cost measures: K-means model-size ratio and table latency ratio.

Size (K-means mode, ``haq_size``), docs/haq.md section 7::

    ratio = sum_l w_l * n_l / (32 * sum_l n_l)

over every conv and FC weight tensor (bias, BN and codebooks not charged). ``size_MB`` divides the
bits by 8e6 as HAQ's log does. Published: the README ResNet-50 strategy gives 0.0995816 (the
"10x compression" row, preserve ratio 0.1) and the list in ``finetune.py`` gives 0.0988438.

Latency (linear mode, ``haq_latency``): the shipped simulator table ``T`` of shape [53, 8, 8] for
``qmobilenetv2`` at batch 16 (cloud BISMO counts; only ratios mean anything)::

    cost = sum_l T[l, w_l - 1, a_l - 1],     ratio = cost / sum_l T[l, 7, 7]

An unquantized input (HAQ's a = -1, 32 in our bit-config files) indexes the table with Python's
negative index -2, i.e. the 7-bit column: the quirk the published ratio depends on (kept; the
``first_layer_a8`` option of ``extra['haq']`` charges the 8-bit column instead). Published: the
README MobileNetV2 strategy has latency ratio 0.5913801 (preserve ratio 0.6).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from common.cost.convention import Convention, CostError, CostReport, register_convention
from common.cost.counters import MB, MIB, size_bits
from common.layers import LayerInfo

LATENCY_TABLE = (
    Path(__file__).resolve().parent.parent / "data" / "qmobilenetv2_imagenet100_batch16_latency_table.npy"
)
FLOAT_BITS = 32


@lru_cache(maxsize=1)
def latency_table() -> np.ndarray:
    """The shipped table, int64 of shape [53, 8, 8], indexed ``T[layer, w - 1, a - 1]``."""
    table = np.load(LATENCY_TABLE)
    if table.shape != (53, 8, 8):
        raise CostError(f"{LATENCY_TABLE} has shape {table.shape}, expected (53, 8, 8)")
    return table


class HaqSizeConvention(Convention):
    name = "haq_size"
    description = "HAQ K-means: weight-storage ratio sum(w*n)/(32*sum(n)) over conv/FC weights"

    def evaluate(
        self,
        arch: str,
        layers: list[LayerInfo],
        bits: dict[str, tuple[int, int]],
        input_size: int,
        extra: dict[str, Any] | None = None,
    ) -> CostReport:
        rows = [
            {
                "name": l.name,
                "kind": l.kind,
                "w": bits[l.name][0],
                "a": bits[l.name][1],
                "weights": l.weight_params,
            }
            for l in layers
        ]
        total_bits = size_bits(layers, bits, bias=False)
        reference = FLOAT_BITS * sum(r["weights"] for r in rows)
        totals = {
            "size_ratio": total_bits / reference,
            "size_bits": float(total_bits),
            "size_MB": total_bits / 8 / MB,
            "size_MiB": total_bits / 8 / MIB,
            "fp32_size_MB": reference / 8 / MB,
        }
        units = {
            "size_ratio": "quantized weight bits / fp32 weight bits (HAQ's preserve ratio)",
            "size_MB": "10**6 bytes, weights only",
            "size_MiB": "2**20 bytes, weights only",
        }
        return CostReport(arch, self.name, input_size, rows, totals, units)


class HaqLatencyConvention(Convention):
    name = "haq_latency"
    description = (
        "HAQ linear: latency ratio from the shipped qmobilenetv2 table (layer-0 a=-1 reads the 7-bit column)"
    )
    archs = ("mobilenet_v2",)

    def uniform(self, layers: list[LayerInfo], w: int, a: int) -> dict[str, tuple[int, int]]:
        """HAQ's budget loop pins the stem to [8, -1] and the classifier to [8, 8]."""
        bits = {l.name: (w, a) for l in layers}
        bits[layers[0].name] = (8, FLOAT_BITS)
        bits[layers[-1].name] = (8, 8)
        return bits

    def evaluate(
        self,
        arch: str,
        layers: list[LayerInfo],
        bits: dict[str, tuple[int, int]],
        input_size: int,
        extra: dict[str, Any] | None = None,
    ) -> CostReport:
        table = latency_table()
        if len(layers) != table.shape[0]:
            raise CostError(f"the latency table has {table.shape[0]} layers, {arch} has {len(layers)}")
        options = (extra or {}).get("haq", {})
        first_a8 = bool(options.get("first_layer_a8", False))
        rows = []
        cost = 0
        for i, l in enumerate(layers):
            w, a = bits[l.name]
            if not 1 <= w <= 8 or not (1 <= a <= 8 or a == FLOAT_BITS):
                raise CostError(f"layer {l.name}: the latency table covers 1..8 bits, got w={w} a={a}")
            # a = 32 stands for HAQ's -1 (input not quantized); T[..., -1 - 1] is the 7-bit column
            col = (8 if first_a8 else -1) - 1 if a == FLOAT_BITS else a - 1
            value = int(table[i, w - 1, col])
            cost += value
            rows.append(
                {
                    "name": l.name,
                    "kind": l.kind,
                    "w": w,
                    "a": a,
                    "latency": value,
                    "latency_w8a8": int(table[i, 7, 7]),
                }
            )
        reference = int(table[:, 7, 7].sum())
        totals = {
            "latency_ratio": cost / reference,
            "latency": float(cost),
            "latency_w8a8": float(reference),
            "speedup_vs_w8a8": reference / cost,
        }
        units = {
            "latency_ratio": "table latency / all-8-bit latency (HAQ's preserve ratio)",
            "latency": "simulator counts (batch 16, cloud accelerator); only ratios are meaningful",
        }
        return CostReport(arch, self.name, input_size, rows, totals, units)


register_convention(HaqSizeConvention())
register_convention(HaqLatencyConvention())
