"""HAWQ-V3 (Yao et al., ICML 2021) model size and BOPs, as in the repository's README/model zoo.

Formulas (docs/hawq.md section 7.1):

* size [MB, printed "MB" but 2**20 bytes] = sum over conv and FC of (weights + bias) * w / 8 / 2**20;
  BN is folded and not charged. A float layer (w = 32) keeps its BN, so the FP32 baseline charges
  every trainable parameter, BN gamma/beta included, at 4 bytes.
* GBOPs = sum over conv and FC of MACs * w * a / 1e9, where a is the bit-width of the quantizer
  that produces the layer's input; FP32 counts 32 * 32 per MAC.
* Uniform W/A runs keep the first conv and the classifier at W8A8 (the input quantizer and
  ``quant_act_output`` are 8-bit in every shipped config); pytorchcv's MobileNetV2 also keeps
  ``final_block`` at W8A8. The float baseline (32/32) pins nothing.

Published figures it reproduces (README and model_zoo.md): ResNet-18 FP32 44.6 MB / 1858 GBOPs,
W8A8 11.1 MB / 116 GBOPs, W4A4 5.8 MB; ResNet-50 (v1 layout, ``resnet50_v1``) FP32 3951 GBOPs,
W8A8 247 GBOPs, W4A4 13.1 MB / 67 GBOPs. The mixed-precision rows of the README cannot be reproduced
by any counting the spec could find: published sizes are 0.14-0.42 MB larger and BOPs 0.4-4.3 G
smaller than what the shipped configs give (documented deviation, see docs/hawq.md section 7.2).
"""

from __future__ import annotations

from typing import Any

from common.cost.convention import Convention, CostReport, register_convention
from common.cost.counters import MIB, bops, layer_param_count, total_macs
from common.layers import LayerInfo

FLOAT_BITS = 32
#: layers besides the first and the last that uniform runs keep at W8A8, per architecture
EXTRA_8BIT_LAYERS = {"mobilenetv2_w1": ("features.final_block.conv",)}


class HawqConvention(Convention):
    name = "hawq"
    description = "HAWQ-V3: size in MiB of (weights+bias)*w (BN folded; FP32 counts BN), BOPs = MACs*w*a"

    def uniform(self, layers: list[LayerInfo], w: int, a: int) -> dict[str, tuple[int, int]]:
        bits = {l.name: (w, a) for l in layers}
        if w == FLOAT_BITS and a == FLOAT_BITS:
            return bits
        arch_pins = {name for names in EXTRA_8BIT_LAYERS.values() for name in names}
        for l in layers:
            if l is layers[0] or l is layers[-1] or l.name in arch_pins:
                bits[l.name] = (8, 8)
        return bits

    def evaluate(
        self,
        arch: str,
        layers: list[LayerInfo],
        bits: dict[str, tuple[int, int]],
        input_size: int,
        extra: dict[str, Any] | None = None,
    ) -> CostReport:
        rows = []
        size = 0
        for l in layers:
            w, a = bits[l.name]
            charged = layer_param_count(l, bias=True, bn=(w == FLOAT_BITS))
            size += w * charged
            rows.append(
                {
                    "name": l.name,
                    "kind": l.kind,
                    "w": w,
                    "a": a,
                    "params": charged,
                    "macs": l.macs,
                    "gbops": l.macs * w * a / 1e9,
                }
            )
        totals = {
            "size_MB": size / 8 / MIB,
            "GBOPs": bops(layers, bits) / 1e9,
            "MACs": float(total_macs(layers)),
            "params": float(sum(r["params"] for r in rows)),
        }
        units = {
            "size_MB": "MiB (2**20 bytes), as printed 'MB' by HAWQ-V3",
            "GBOPs": "1e9 bit operations: MACs * w * a",
            "MACs": "multiply-accumulates of conv and FC layers",
            "params": "parameters charged to the size (BN only for float layers)",
        }
        return CostReport(arch, self.name, input_size, rows, totals, units)


register_convention(HawqConvention())
