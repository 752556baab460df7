"""Searchable-layer lists of OMPQ (docs/ompq.md §4.1), in ``common.layers`` names, and their costs (§7).

Each entry is one feature (the output of a module, optionally passed through ReLU because torchvision applies the
block's ReLU functionally after ``bn1``/``bn2``) and the layers whose weight bit it decides (and whose parameters
and FLOPs it is charged):

* ResNet (BasicBlock), QAT: per block [conv1+BN+ReLU output -> ``conv1``; block output (after add and ReLU) ->
  ``conv2`` and, in the first block of stages 2-4, ``downsample.0``]; stem and fc fixed at 8 bit (counted in FL).
  The CIFAR ResNet-20 (an addition: OMPQ has no CIFAR model) is listed the same way over its three stages; its
  option-A shortcuts have no weights.
  PTQ adds the stem output (before max-pool) first and the fc logits last.
* ResNet (Bottleneck): per block [conv1 out; conv2 out; block out -> ``conv3`` + ``downsample.0``]; the
  projection of every stage, ``layer1.0`` included, is charged to the block-output entry.
* MobileNetV2 (QAT and PTQ): stem output; t=1 block [dw CNA out; output of the block's ``conv`` sequence, i.e.
  the projection BN without any residual]; t>1 blocks [expand out; dw out; block output including the residual];
  last 1x1 conv out; classifier logits. First and last layers are in the list (FL = 0).

The original's BasicBlock ResNet has a 1x1 projection in ``layer1.0`` too (OMPQ's search ResNet-18), but its
counters skip it (``i != 0`` for BasicBlock in ``cfg2params_perlayer``/``cfg2flops_layerwise``): here it is in no
entry, is charged nothing and gets no bits (the ResNet-18 that QAT/PTQ deploy has no such layer).

One more counting rule of the original (quirk, on with ``quirks=True``): the fc FLOPs of a ResNet use the last
entry of the width list ``cfg`` as input count, i.e. the inner width of the last block (``conv1`` of a
BasicBlock, ``conv2`` of a Bottleneck): (2·cfg[-1] + 1)·classes. At the standard widths this is 512 for both
ResNet-18 (equal to the fc input) and ResNet-50 (a quarter of its 2048 inputs).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock, Bottleneck

from common.cost.conventions.ompq import ompq_flops, ompq_params
from common.layers import LayerInfo
from common.models.cifar_resnet import BasicBlock as CifarBasicBlock

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
    for stage in _stages(model):
        for idx, block in enumerate(getattr(model, stage)):
            name = f"{stage}.{idx}"
            down = (f"{name}.downsample.0",) if getattr(block, "downsample", None) is not None else ()
            if isinstance(block, Bottleneck):
                entries += [
                    Entry(f"{name}.bn1", True, (f"{name}.conv1",)),
                    Entry(f"{name}.bn2", True, (f"{name}.conv2",)),
                    Entry(name, False, (f"{name}.conv3", *down)),
                ]
            elif isinstance(
                block, (BasicBlock, CifarBasicBlock)
            ):  # the CIFAR blocks' shortcut has no weights
                if stage == "layer1":
                    down = ()  # the original's counters skip a BasicBlock projection in the first stage
                entries += [
                    Entry(f"{name}.bn1", True, (f"{name}.conv1",)),
                    Entry(name, False, (f"{name}.conv2", *down)),
                ]
            else:
                raise SearchableError(f"unknown ResNet block {type(block).__name__} at {name}")
    if mode == "PTQ":
        entries.append(Entry("fc", False, ("fc",)))
    return entries


def _stages(model: nn.Module) -> list[str]:
    """``layer1`` .. ``layer4``, or the three stages of a CIFAR ResNet (ResNet-20, not an OMPQ model)."""
    return [f"layer{s}" for s in range(1, 5) if hasattr(model, f"layer{s}")]


def _mobilenet_entries(model: nn.Module) -> list[Entry]:
    feats = model.features
    last = len(feats) - 1
    entries = [Entry("features.0", False, ("features.0.0",))]
    for k in range(1, last):
        block = feats[k]
        base = f"features.{k}.conv"
        if len(block.conv) == 3:  # t = 1: dw CNA, project conv, BN; the original takes conv(x), no residual
            entries += [
                Entry(f"{base}.0", False, (f"{base}.0.0",)),
                Entry(base, False, (f"{base}.1",)),
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


def cost_key(arch: str | None, model: nn.Module) -> str:
    """The arch whose OMPQ FLOP constants apply: ``arch`` when it has its own, else by the model's blocks
    (Bottleneck ResNets count as resnet50, other ResNets as resnet18, the rest as mobilenet_v2)."""
    if arch in ("resnet18", "resnet50", "mobilenet_v2"):
        return arch
    if family(model) == "resnet":
        return "resnet50" if any(isinstance(m, Bottleneck) for m in model.modules()) else "resnet18"
    return "mobilenet_v2"


def fc_flops_width(model: nn.Module) -> int | None:
    """Input count OMPQ's ResNet counter charges the fc's FLOPs with: ``cfg[-1]``, the last block's inner width.

    That is ``conv1``'s output width of a BasicBlock and ``conv2``'s of a Bottleneck; ``None`` for MobileNetV2
    (its counter uses the real 1280 inputs).
    """
    if family(model) != "resnet":
        return None
    last = getattr(model, _stages(model)[-1])[-1]
    inner = last.conv2 if isinstance(last, Bottleneck) else last.conv1
    return int(inner.out_channels)


def entry_costs(
    entries: list[Entry],
    fixed: tuple[str, ...],
    layers: list[LayerInfo],
    arch_key: str,
    quirks: bool = True,
    fc_in: int | None = None,
) -> tuple[list[int], int, list[int], int]:
    """Per-entry parameters and FLOPs (§7) plus those of the fixed first/last layers: (p, FL_p, f, FL_f).

    p_e = Σ_{l ∈ e} ompq_params(l) (conv: C_in·k·k·C_out/groups + 2·C_out; fc: (C_in + 1)·classes) and
    f_e = Σ_{l ∈ e} ompq_flops(l) (conv: (MACs/pixel + 5·C_out)·H_out·W_out for ResNets, MACs for MobileNetV2;
    fc: (2·C_in ± 1)·classes, C_in replaced by ``fc_in`` under ``quirks``, see :func:`fc_flops_width`).
    """
    by_name = {info.name: info for info in layers}

    def flops(name: str) -> int:
        return ompq_flops(arch_key, by_name[name], quirks, fc_in)

    params = [sum(ompq_params(by_name[n]) for n in e.layers) for e in entries]
    entry_flops = [sum(flops(n) for n in e.layers) for e in entries]
    fl_params = sum(ompq_params(by_name[n]) for n in fixed)
    fl_flops = sum(flops(n) for n in fixed)
    return params, fl_params, entry_flops, fl_flops
