"""Searchable-layer lists of OMPQ (spec ompq.md §4.1), in ``common.layers`` names, and their costs (§7).

Each entry is one feature (the output of a module, optionally passed through ReLU because torchvision applies the
block's ReLU functionally after ``bn1``/``bn2``) and the layers whose weight bit it decides:

* ResNet (BasicBlock), QAT: per block [conv1+BN+ReLU output -> ``conv1``; block output -> ``conv2`` and the
  block's ``downsample.0``]; stem and fc fixed at 8 bit (counted in FL). PTQ adds the stem output (before
  max-pool) first and the fc logits last.
* ResNet (Bottleneck): per block [conv1 out; conv2 out; block out -> ``conv3`` + downsample].
* MobileNetV2 (QAT and PTQ): stem; t=1 block [dw out; block out]; t>1 blocks [expand out; dw out; block out];
  last 1x1 conv out; classifier logits. First and last layers are in the list (FL = 0).

The ResNet-18 search model of the original carries a 1x1 projection in ``layer1.0``; it gets no entry and no cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock, Bottleneck

from common.cost.conventions.ompq import ompq_flops, ompq_params
from common.layers import LayerInfo

MODES = ("QAT", "PTQ")


class SearchableError(ValueError):
    """A model/mode pair without a searchable-layer list."""

    user_error = True


@dataclass(frozen=True)
class Entry:
    """One searchable entry: feature = output of ``module`` (ReLU applied when ``relu``); bits go to ``layers``."""

    module: str
    relu: bool
    layers: tuple[str, ...]


def family(model: nn.Module) -> str:
    """``"resnet"`` or ``"mobilenetv2"`` from the model's blocks; anything else is a :class:`SearchableError`."""
    if hasattr(model, "layer1") and hasattr(model, "fc"):
        return "resnet"
    if hasattr(model, "features") and any(isinstance(m, InvertedResidual) for m in model.modules()):
        return "mobilenetv2"
    raise SearchableError(
        f"no OMPQ searchable-layer list for {type(model).__name__} (ResNet or MobileNetV2 only)"
    )


def _resnet_entries(model: nn.Module, mode: str) -> list[Entry]:
    entries: list[Entry] = []
    if mode == "PTQ":
        entries.append(Entry("bn1", True, ("conv1",)))
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        for idx, block in enumerate(getattr(model, stage)):
            name = f"{stage}.{idx}"
            down = (f"{name}.downsample.0",) if block.downsample is not None else ()
            if isinstance(block, Bottleneck):
                entries += [
                    Entry(f"{name}.bn1", True, (f"{name}.conv1",)),
                    Entry(f"{name}.bn2", True, (f"{name}.conv2",)),
                    Entry(name, False, (f"{name}.conv3", *down)),
                ]
            elif isinstance(block, BasicBlock):
                entries += [
                    Entry(f"{name}.bn1", True, (f"{name}.conv1",)),
                    Entry(name, False, (f"{name}.conv2", *down)),
                ]
            else:
                raise SearchableError(f"unknown ResNet block {type(block).__name__} at {name}")
    if mode == "PTQ":
        entries.append(Entry("fc", False, ("fc",)))
    return entries


def _mobilenet_entries(model: nn.Module) -> list[Entry]:
    feats = model.features
    last = len(feats) - 1
    entries = [Entry("features.0", False, ("features.0.0",))]
    for k in range(1, last):
        block = feats[k]
        base = f"features.{k}.conv"
        if len(block.conv) == 3:  # t = 1: dw CNA, project conv, BN
            entries += [
                Entry(f"{base}.0", False, (f"{base}.0.0",)),
                Entry(f"features.{k}", False, (f"{base}.1",)),
            ]
        else:  # expand CNA, dw CNA, project conv, BN
            entries += [
                Entry(f"{base}.0", False, (f"{base}.0.0",)),
                Entry(f"{base}.1", False, (f"{base}.1.0",)),
                Entry(f"features.{k}", False, (f"{base}.2",)),
            ]
    linear = [n for n, m in model.classifier.named_modules() if isinstance(m, nn.Linear)]
    entries += [
        Entry(f"features.{last}", False, (f"features.{last}.0",)),
        Entry("", False, (f"classifier.{linear[0]}",)),
    ]
    return entries


def searchable_entries(model: nn.Module, quant_type: str) -> list[Entry]:
    """The ordered searchable entries of ``model`` for ``quant_type`` (QAT or PTQ), see the module docstring."""
    if quant_type not in MODES:
        raise SearchableError(f"--quant_type must be QAT or PTQ, got {quant_type!r}")
    if family(model) == "resnet":
        return _resnet_entries(model, quant_type)
    return _mobilenet_entries(model)


def fixed_layers(model: nn.Module, quant_type: str) -> tuple[str, ...]:
    """Layers outside the list, kept at W8A8: the stem conv and fc of a QAT ResNet."""
    if quant_type == "QAT" and family(model) == "resnet":
        return ("conv1", "fc")
    return ()


def cost_key(arch: str, model: nn.Module) -> str:
    """The arch whose OMPQ FLOP constants apply (the tiny models use their big sibling's)."""
    if arch in ("resnet18", "resnet50", "mobilenet_v2"):
        return arch
    return "resnet18" if family(model) == "resnet" else "mobilenet_v2"


def entry_costs(
    entries: list[Entry], fixed: tuple[str, ...], layers: list[LayerInfo], arch_key: str, quirks: bool = True
) -> tuple[list[int], int, list[int], int]:
    """Per-entry parameters and FLOPs (§7) plus those of the fixed first/last layers: (p, FL_p, f, FL_f)."""
    by_name = {info.name: info for info in layers}
    params = [sum(ompq_params(by_name[n]) for n in e.layers) for e in entries]
    flops = [sum(ompq_flops(arch_key, by_name[n], quirks) for n in e.layers) for e in entries]
    fl_params = sum(ompq_params(by_name[n]) for n in fixed)
    fl_flops = sum(ompq_flops(arch_key, by_name[n], quirks) for n in fixed)
    return params, fl_params, flops, fl_flops
