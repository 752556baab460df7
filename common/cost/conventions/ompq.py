"""OMPQ (Ma et al., AAAI 2023) model size and BOPs, as in the repository's README and run scripts.

Formulas (docs/ompq.md section 7; the original counters are ``cfg2params_perlayer`` and
``cfg2flops_layerwise`` of the search models, golden ``cost_golden.json``):

* params per layer: conv = C_in*k*k*C_out/groups + 2*C_out (BN gamma and beta are charged);
  fc = (C_in + 1) * classes (weights and bias). A downsample conv is charged like any other conv
  with its own bits (the original adds it to the searchable entry whose bit it shares).
* size ["Mb" in the README, in fact MiB] = sum_l w_l * params_l / 8 / 2**20.
* FLOPs per conv: (C_in*k*k*C_out/groups + 5*C_out) * H_out * W_out for the ResNets (the 5*C_out
  term counts BN and ReLU), + 0*C_out for MobileNetV2, i.e. MACs + 5*C_out*H_out*W_out resp. MACs.
  fc: ResNet (2*C_in + 1) * classes, MobileNetV2 (2*C_in - 1) * classes (C_in = 1280). The original
  hard-codes 224x224; here the enumerated shapes are used, which equal it at the default size.
* GBOPs = sum_l FLOPs_l * w_l * a_l / 1e9, a_l = the bits of the layer's input activation. The README
  formula is (FL_flops*8*8 + sum_i flops_i*b_i*a)/1e9: in QAT the stem conv and the fc are at W8A8
  and every other layer has a = the config's activation bits; in PTQ the stem and fc are in the
  searched list and every layer has a = ``--n_bits_a``. Express both with per-layer (w, a).
  (feature_extract.py prints the same sum with a hard-coded a = 5; not what the tables use.)
* Two ResNet-50 counting quirks, kept by default because 141/156/226 need them: (1) the first
  bottleneck's conv1 (``layer1.0.conv1``, pytorchcv ``stage1.unit1.conv1``) is counted at twice its
  output resolution (112x112 instead of 56x56); (2) the fc FLOPs use the last stage's bottleneck width
  512 = 2048 / 4 as input count: (2*512 + 1) * 1000. The convention ``ompq_fixed`` counts both
  correctly; with either convention ``extra={"ompq": {"quirks": bool}}`` (e.g. from a bit-config
  file's ``extra``) overrides the default. Quirks off: 139.56 / 154.96 / 224.03 GBOPs.
* ``uniform(w, a)`` is QAT-style: the stem conv and the fc are pinned at W8A8 and every other layer
  gets w/a; 32/32 (the float baseline) pins nothing. The uniform points of the paper's PTQ figure
  (ResNet-18 2.79 / 5.57 Mb, MobileNetV2 0.84 / 1.67 Mb) are every layer at 2 resp. 4 bits; pass
  them as per-layer bits.

Published figures it reproduces (README tables, bit-config names and the PTQ figure), with the shipped
configs: ResNet-18 QAT 6.7 Mb (6.6986) with 97 GBOPs at a8 (97.514) and 75 GBOPs at a6 (75.104);
ResNet-50 QAT 16.0 Mb / 141 GBOPs (16.0252 / 141.025), 18.7 Mb / 156 GBOPs (18.7404 / 156.422),
21.2 Mb / 226 GBOPs (21.1809 / 226.155); PTQ ResNet-18 3.0/3.5/4.0/4.5/5.0/5.5 Mb and MobileNetV2
0.9/1.1/1.3/1.5 Mb (MobileNetV2 1.5 is 1.5185: np.around may exceed the budget). FP32 sizes:
ResNet-18 44.59, ResNet-50 97.49, MobileNetV2 13.37 MiB.
"""

from __future__ import annotations

from typing import Any

from common.cost.convention import Convention, CostError, CostReport, register_convention
from common.cost.counters import MIB
from common.layers import LINEAR, LayerInfo

FLOAT_BITS = 32
#: per-arch FLOP terms: extra FLOPs per output channel and pixel (BN+ReLU) and the fc's constant
BN_RELU_FLOPS = {"resnet18": 5, "resnet50": 5, "mobilenet_v2": 0}
FC_CONST = {"resnet18": 1, "resnet50": 1, "mobilenet_v2": -1}
#: ResNet-50 quirk (1): layers counted at twice their output resolution in each dimension
QUIRK_DOUBLE_RES = {"resnet50": ("layer1.0.conv1",)}
#: ResNet-50 quirk (2): the fc's FLOPs use C_in / 4 (the last bottleneck width) as input count
QUIRK_FC_IN_DIVISOR = {"resnet50": 4}


def _quirks_enabled(default: bool, extra: dict[str, Any] | None) -> bool:
    section = (extra or {}).get("ompq")
    if isinstance(section, dict) and "quirks" in section:
        return bool(section["quirks"])
    return default


def ompq_params(layer: LayerInfo) -> int:
    """Parameters charged to one layer: conv weights + 2*C_out (BN); fc weights + bias."""
    if layer.kind == LINEAR:
        return layer.weight_params + layer.bias_params
    return layer.weight_params + 2 * layer.out_channels


def ompq_flops(arch: str, layer: LayerInfo, quirks: bool, fc_in: int | None = None) -> int:
    """FLOPs of one layer as counted by OMPQ's search models (see the module docstring).

    ``fc_in`` (used only with ``quirks``) is the input count the fc's FLOPs are charged with instead of its real
    C_in: OMPQ's ResNet counter takes the last entry of its width list ``cfg``, the inner width of the last block
    (``C_in // 4`` for ResNet-50 and ``C_in`` for ResNet-18 at the standard widths, other values at reduced ones).
    """
    if layer.kind == LINEAR:
        c_in = layer.in_channels
        if quirks and fc_in is not None:
            c_in = fc_in
        elif quirks and arch in QUIRK_FC_IN_DIVISOR:
            c_in //= QUIRK_FC_IN_DIVISOR[arch]
        rows = layer.macs // (layer.in_channels * layer.out_channels)
        return (2 * c_in + FC_CONST[arch]) * layer.out_channels * rows
    h, w = layer.out_hw
    per_pixel = layer.macs // (h * w) + BN_RELU_FLOPS[arch] * layer.out_channels
    if quirks and layer.name in QUIRK_DOUBLE_RES.get(arch, ()):
        h, w = 2 * h, 2 * w
    return per_pixel * h * w


class OmpqConvention(Convention):
    name = "ompq"
    description = (
        "OMPQ: size in MiB of conv (weights+2*C_out) / fc (weights+bias) * w; BOPs = FLOPs*w*a with "
        "FLOPs incl. 5*C_out BN+ReLU per pixel (ResNets); ResNet-50 counting quirks kept"
    )
    archs = ("resnet18", "resnet50", "mobilenet_v2")
    #: whether the ResNet-50 counting quirks are on unless ``extra`` says otherwise
    quirks_default: bool = True

    def uniform(self, layers: list[LayerInfo], w: int, a: int) -> dict[str, tuple[int, int]]:
        bits = {l.name: (w, a) for l in layers}
        if w == FLOAT_BITS and a == FLOAT_BITS:
            return bits
        for l in (layers[0], layers[-1]):
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
        self.check_arch(arch)
        quirks = _quirks_enabled(self.quirks_default, extra)
        rows = []
        size_bits = 0
        bops = 0
        for l in layers:
            if l.name not in bits:
                raise CostError(f"no bits for layer {l.name!r}")
            w, a = bits[l.name]
            params = ompq_params(l)
            flops = ompq_flops(arch, l, quirks)
            size_bits += w * params
            bops += flops * w * a
            rows.append(
                {
                    "name": l.name,
                    "kind": l.kind,
                    "w": w,
                    "a": a,
                    "params": params,
                    "flops": flops,
                    "gbops": flops * w * a / 1e9,
                }
            )
        totals = {
            "size_Mb": size_bits / 8 / MIB,
            "GBOPs": bops / 1e9,
            "params": float(sum(r["params"] for r in rows)),
            "flops": float(sum(r["flops"] for r in rows)),
        }
        units = {
            "size_Mb": "MiB (2**20 bytes), printed 'Mb' by OMPQ: sum of w * params / 8",
            "GBOPs": "1e9 bit operations: FLOPs * w * a (FLOPs as below, not MACs)",
            "params": "parameters charged: conv weights + 2*C_out (BN gamma/beta), fc weights + bias",
            "flops": "OMPQ FLOPs: conv MACs + 5*C_out*H_out*W_out (ResNets; MobileNetV2 +0), fc (2*C_in+-1)*classes",
        }
        notes = []
        if arch in QUIRK_DOUBLE_RES:
            state = "on" if quirks else "off"
            notes.append(
                f"ResNet-50 counting quirks {state}: layer1.0.conv1 at twice its resolution and fc FLOPs "
                "with 512 inputs (needed for the published 141/156/226 GBOPs)"
            )
        if input_size != 224:
            notes.append(f"input size {input_size}: the original counters hard-code 224")
        return CostReport(arch, self.name, input_size, rows, totals, units, notes)


class OmpqFixedConvention(OmpqConvention):
    name = "ompq_fixed"
    description = "OMPQ counting with the two ResNet-50 FLOP quirks corrected (otherwise as 'ompq')"
    quirks_default = False


register_convention(OmpqConvention())
register_convention(OmpqFixedConvention())
