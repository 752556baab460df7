"""HMQ (Habi et al., ECCV 2020) weight compression rate and model size, docs/hmq.md section 7.

Over the weight tensors HMQ quantizes (every conv and FC, except ResNet-50's classifier, which HMQ
leaves as a plain float ``nn.Linear``; biases and BN never count)::

    WCR = sum_l 32 * n_l / sum_l w_l * n_l          size [MB] = sum_l w_l * n_l / 8 / 10**6

Published figures: the quantized-weight counts per network (MobileNetV1 4,209,088; MobileNetV2
3,469,760; ResNet-50 23,454,912; EfficientNet-B0 5,236,192); uniform b bits give WCR = 32 / b.
"""

from __future__ import annotations

from typing import Any

from common.cost.convention import Convention, CostReport, register_convention
from common.cost.counters import MB, size_bits
from common.layers import LayerInfo

#: float layers that HMQ never quantizes, per architecture
UNQUANTIZED = {"resnet50": ("fc",)}


def hmq_quantized_layers(arch: str, layers: list[LayerInfo]) -> list[LayerInfo]:
    """The layers whose weights carry an HMQ block for ``arch``."""
    skip = set(UNQUANTIZED.get(arch, ()))
    return [l for l in layers if l.name not in skip]


class HmqConvention(Convention):
    name = "hmq"
    description = (
        "HMQ: weight compression rate 32*sum(n)/sum(w*n) and size in 10**6 bytes over HMQ-quantized weights"
    )

    def evaluate(
        self,
        arch: str,
        layers: list[LayerInfo],
        bits: dict[str, tuple[int, int]],
        input_size: int,
        extra: dict[str, Any] | None = None,
    ) -> CostReport:
        counted = hmq_quantized_layers(arch, layers)
        rows = [
            {
                "name": l.name,
                "kind": l.kind,
                "w": bits[l.name][0],
                "a": bits[l.name][1],
                "weights": l.weight_params,
            }
            for l in counted
        ]
        n = sum(r["weights"] for r in rows)
        total_bits = size_bits(counted, bits, bias=False)
        totals = {
            "WCR": 32 * n / total_bits,
            "size_MB": total_bits / 8 / MB,
            "quantized_weights": float(n),
            "weight_quantizers": float(len(rows)),
        }
        units = {
            "WCR": "weight compression rate vs float32 (argmax bits)",
            "size_MB": "10**6 bytes of quantized weights",
            "quantized_weights": "number of weights that carry an HMQ block",
        }
        notes = [f"not quantized by HMQ: {', '.join(UNQUANTIZED[arch])}"] if arch in UNQUANTIZED else []
        return CostReport(arch, self.name, input_size, rows, totals, units, notes)


register_convention(HmqConvention())
