"""ProQHA "Cost" (computation ratio) of the README table, docs/proqha.md section 7.

Over the quantized layers j (every conv except the stem and the downsample convs, and the hidden linear
layers of VGG's classifier; the classifier and every other float layer are left out of both sums)::

    Cost = sum_j b_j * n_j / (32 * sum_j n_j)

with n_j the weight count of conv j. In the original, b_j is the bit-width at position 2j+1 of the
quantizer list. For ImageNet ResNet-18, whose list alternates (weight, activation), that is the
PACT quantizer *after* conv j, i.e. the input-activation bits of the next quantized layer (the
classifier for the last conv), not conv j's weight bits: a bug the published MP costs presumably
carry. ``proqha`` keeps it (default, faithful); ``proqha_weight`` charges conv j's own weight bits.
When a bit-config carries the original list (``extra['proqha']['kbits']``), ``proqha`` reads the
odd positions directly.

Published figures: 1.0 (32 bits), 0.1563 (5/5: 5/32 = 0.15625, printed half-up) and 0.0938 (3/3).
"""

from __future__ import annotations

from typing import Any

from common.cost.convention import Convention, CostError, CostReport, register_convention
from common.layers import LINEAR, LayerInfo

FLOAT_BITS = 32


def proqha_quantized_layers(layers: list[LayerInfo]) -> list[LayerInfo]:
    """Layers that ProQHA quantizes: all but the stem, the downsample/shortcut convs and the classifier (the last
    layer). The hidden linear layers of the VGG classifier are quantized; the ResNets and MobileNetV2 have none."""
    return [l for l in layers[1:-1] if "downsample" not in l.name and "shortcut" not in l.name] + [
        l for l in layers[-1:] if len(layers) > 1 and l.kind != LINEAR
    ]


class ProqhaConvention(Convention):
    name = "proqha"
    description = (
        "ProQHA: sum(b*n)/(32*sum(n)) over quantized convs, b = bits at odd list positions (faithful pairing)"
    )
    pairing = "activation"

    def uniform(self, layers: list[LayerInfo], w: int, a: int) -> dict[str, tuple[int, int]]:
        """Quantized convs at w/a; float layers at 32 bits, fed by a PACT output (a bits) after the first conv."""
        quantized = {l.name for l in proqha_quantized_layers(layers)}
        if not quantized:
            raise CostError("no ProQHA-quantized conv in this model")
        first = next(i for i, l in enumerate(layers) if l.name in quantized)
        bits = {}
        for i, l in enumerate(layers):
            if l.name in quantized:
                bits[l.name] = (w, FLOAT_BITS if i == first else a)
            else:
                bits[l.name] = (FLOAT_BITS, a if i > first else FLOAT_BITS)
        return bits

    def charged_bits(
        self, layers: list[LayerInfo], bits: dict[str, tuple[int, int]], extra: dict[str, Any] | None
    ) -> list[int]:
        quantized = proqha_quantized_layers(layers)
        if self.pairing == "weight":
            return [bits[l.name][0] for l in quantized]
        kbits = ((extra or {}).get("proqha") or {}).get("kbits")
        if kbits is not None:
            if len(kbits) != 2 * len(quantized):
                raise CostError(f"ProQHA list has {len(kbits)} entries, expected {2 * len(quantized)}")
            return [int(kbits[2 * j + 1]) for j in range(len(quantized))]
        # the quantizer after conv j feeds the next quantized conv, or the classifier after the last one
        consumers = quantized[1:] + [next(l for l in reversed(layers) if l.kind == LINEAR)]
        return [bits[c.name][1] for c in consumers]

    def evaluate(
        self,
        arch: str,
        layers: list[LayerInfo],
        bits: dict[str, tuple[int, int]],
        input_size: int,
        extra: dict[str, Any] | None = None,
    ) -> CostReport:
        quantized = proqha_quantized_layers(layers)
        charged = self.charged_bits(layers, bits, extra)
        rows = [
            {
                "name": l.name,
                "kind": l.kind,
                "w": bits[l.name][0],
                "a": bits[l.name][1],
                "charged_bits": b,
                "weights": l.weight_params,
            }
            for l, b in zip(quantized, charged, strict=True)
        ]
        n = sum(l.weight_params for l in quantized)
        cost = sum(b * l.weight_params for l, b in zip(quantized, charged, strict=True)) / (FLOAT_BITS * n)
        totals = {"cost": cost, "quantized_weights": float(n)}
        units = {"cost": f"weighted bits / 32 over the quantized convs ({self.pairing} pairing)"}
        return CostReport(arch, self.name, input_size, rows, totals, units)


class ProqhaWeightConvention(ProqhaConvention):
    name = "proqha_weight"
    description = "ProQHA cost with each conv charged its own weight bits (the pairing bug fixed)"
    pairing = "weight"


register_convention(ProqhaConvention())
register_convention(ProqhaWeightConvention())
