"""Outputs of a search: the portable bit-config file and the per-layer bit-width chart.

Bit-config entries (contract 2): for every conv/linear layer ``w`` = the chosen weight bit-width
(32 for a layer HMQ keeps float, ResNet-50's classifier) with its ``threshold``, and ``a`` = the
bit-width of the activation block whose output the layer reads directly, with ``a_threshold``; a layer
whose input is the image, a pooled or an SE-scaled tensor (not re-quantized in HMQ) gets ``a = 32``.
Every activation block is also listed under ``extra.activations`` in forward order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.bitconfig import BitConfig, LayerBits, write_bitconfig
from common.layers import enumerate_layers
from hmq.compression import activation_max_compression, weight_compression
from hmq.modules import HmqActivation, HmqConv2d, HmqLinear

__all__ = ["input_activations", "layer_bits", "make_bitconfig", "plot_bits", "write_outputs"]

FLOAT = 32


@torch.no_grad()
def input_activations(model: nn.Module, input_size: int, in_channels: int = 3) -> dict[str, str]:
    """Layer name -> name of the activation module whose output that layer consumes (when direct)."""
    produced: dict[int, str] = {}
    consumed: dict[str, str] = {}
    keep: list[torch.Tensor] = []
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, HmqActivation):

            def after(mod, inp, out, n=name):
                produced[id(out)] = n
                keep.append(out)

            handles.append(m.register_forward_hook(after))
        elif isinstance(m, (nn.Conv2d, nn.Linear)):

            def before(mod, inp, n=name):
                if id(inp[0]) in produced:
                    consumed[n] = produced[id(inp[0])]

            handles.append(m.register_forward_pre_hook(before))
    was_training = model.training
    try:
        model.eval()
        device = next(model.parameters()).device
        model(torch.zeros(1, in_channels, input_size, input_size, device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return consumed


def layer_bits(model: nn.Module, input_size: int) -> tuple[dict[str, LayerBits], list[dict[str, Any]]]:
    """Per-layer :class:`LayerBits` in enumeration order and the activation-block list."""
    modules = dict(model.named_modules())
    sources = input_activations(model, input_size)
    layers: dict[str, LayerBits] = {}
    for info in enumerate_layers(model, input_size):
        m = modules[info.name]
        extra: dict[str, Any] = {}
        w = FLOAT
        if isinstance(m, (HmqConv2d, HmqLinear)):
            w = m.q.bit_width()
            extra["threshold"] = m.q.threshold()
        a = FLOAT
        src = sources.get(info.name)
        if src is not None:
            act = modules[src].q
            a = act.bit_width()
            extra["a_threshold"] = act.threshold()
            extra["a_source"] = src
        layers[info.name] = LayerBits(w, a, extra)
    acts = [
        {
            "name": n,
            "kind": m.kind,
            "signed": bool(m.q.signed),
            "bits": m.q.bit_width(),
            "threshold": m.q.threshold(),
            "size": int(m.q.tensor_size),
        }
        for n, m in model.named_modules()
        if isinstance(m, HmqActivation)
    ]
    return layers, acts


def make_bitconfig(
    model: nn.Module,
    arch: str,
    num_classes: int,
    input_size: int,
    source: str,
    costs: dict[str, Any] | None = None,
) -> BitConfig:
    """The bit config of the current hard choices of ``model`` (see the module docstring)."""
    layers, acts = layer_bits(model, input_size)
    figures = {
        "WCR": weight_compression(model),
        "activation_max_compression": activation_max_compression(model),
    }
    figures.update(costs or {})
    return BitConfig(
        arch=arch,
        layers=layers,
        method="hmq",
        source=source,
        num_classes=num_classes,
        input_size=input_size,
        costs=figures,
        extra={"activations": acts},
    )


def plot_bits(cfg: BitConfig, path: str | Path, title: str = "") -> Path:
    """Bar chart of the weight bit-width per layer (and the input-activation bits) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(cfg.layers)
    w = [cfg.layers[n].w for n in names]
    a = [cfg.layers[n].a if cfg.layers[n].a < FLOAT else 0 for n in names]
    x = range(len(names))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * len(names)), 3.6))
    ax.bar([i - 0.2 for i in x], w, width=0.4, label="weight bits")
    ax.bar([i + 0.2 for i in x], a, width=0.4, label="input activation bits (0 = float)")
    ax.set_xticks(list(x))
    ax.set_xticklabels(names, rotation=90, fontsize=6)
    ax.set_ylabel("bits")
    ax.set_ylim(0, 9)
    ax.legend(fontsize=7)
    ax.set_title(title or f"HMQ {cfg.arch}: WCR {cfg.costs.get('WCR', float('nan')):.2f}", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path


def write_outputs(
    model: nn.Module,
    arch: str,
    num_classes: int,
    input_size: int,
    out_dir: Path,
    source: str,
    costs: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``bitconfig.json`` and ``bits.png`` into ``out_dir``; returns both paths."""
    cfg = make_bitconfig(model, arch, num_classes, input_size, source, costs)
    cfg_path = write_bitconfig(cfg, out_dir / "bitconfig.json")
    png = plot_bits(cfg, out_dir / "bits.png")
    return cfg_path, png
