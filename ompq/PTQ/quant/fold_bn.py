"""BatchNorm folding before PTQ (docs/ompq.md §3.4): W' = W·γ/σ, b' = γ(b − μ)/σ + β with σ = sqrt(var + eps)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def fold_bn_params(conv: nn.Module, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """Folded (weight, bias) of ``conv`` followed by ``bn`` (running statistics)."""
    std = torch.sqrt(bn.running_var + bn.eps)
    scale = bn.weight / std if bn.affine else 1.0 / std
    shift = bn.bias - bn.weight * bn.running_mean / std if bn.affine else -bn.running_mean / std
    weight = conv.weight * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
    bias = shift if conv.bias is None else conv.bias * scale + shift
    return weight, bias


def fold_bn_into_conv(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold in place: ``conv`` gets the folded weight and a bias."""
    with torch.no_grad():
        w, b = fold_bn_params(conv, bn)
        conv.weight.data.copy_(w)
        if conv.bias is None:
            conv.bias = nn.Parameter(b.detach().clone())
        else:
            conv.bias.data.copy_(b)


def fold_all_bn(model: nn.Module) -> nn.Module:
    """Fold every BN that directly follows a conv (in module order inside each parent) and replace it by Identity."""
    previous: nn.Module | None = None
    for name, child in list(model.named_children()):
        if isinstance(child, nn.BatchNorm2d) and isinstance(previous, nn.Conv2d):
            fold_bn_into_conv(previous, child)
            setattr(model, name, nn.Identity())
        elif isinstance(child, nn.Conv2d):
            previous = child
            continue
        else:
            fold_all_bn(child)
        previous = child if isinstance(child, nn.Conv2d) else None
    return model
