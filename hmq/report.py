"""Outputs of a search: the portable bit-config file and the per-layer bit-width chart.

Bit-config entries (contract 2): for every conv/linear layer ``w`` = the chosen weight bit-width
(32 for a layer HMQ keeps float, ResNet-50's classifier) with its ``threshold``, and ``a`` = the
bit-width of the activation block whose output the layer reads directly, with ``a_threshold``; a layer
whose input is the image, a pooled or an SE-scaled tensor (not re-quantized in HMQ) gets ``a = 32``.
Every activation block is also listed under ``extra.activations`` in forward order.

:func:`apply_bitconfig` is the inverse (``python -m hmq.main --bit_config FILE --n_epochs 0``): it fixes
every block's hard choice to the file's bits and, where stored, thresholds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.bitconfig import BitConfig, BitConfigError, LayerBits, write_bitconfig
from common.layers import enumerate_layers
from common.runtime import save_figure
from hmq.block import HMQ
from hmq.compression import activation_max_compression, weight_compression
from hmq.modules import HmqActivation, HmqConv2d, HmqLinear

__all__ = [
    "apply_bitconfig",
    "input_activations",
    "layer_bits",
    "make_bitconfig",
    "plot_bits",
    "write_outputs",
]

FLOAT = 32
#: logit given to the fixed (bit-width, threshold) pair by :func:`apply_bitconfig`; every other pair gets 0
FIXED_LOGIT = 30.0


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


def layer_bits(
    model: nn.Module, input_size: int, quant_weights: bool = True, quant_acts: bool = True
) -> tuple[dict[str, LayerBits], list[dict[str, Any]]]:
    """Per-layer :class:`LayerBits` in enumeration order and the activation-block list.

    ``quant_weights`` / ``quant_acts`` say which tensors the run quantized (``--quantization_part``):
    a part left float is written as ``FLOAT`` (32) whatever its unused HMQ block would pick.
    """
    modules = dict(model.named_modules())
    sources = input_activations(model, input_size)
    layers: dict[str, LayerBits] = {}
    for info in enumerate_layers(model, input_size):
        m = modules[info.name]
        extra: dict[str, Any] = {}
        w = FLOAT
        if quant_weights and isinstance(m, (HmqConv2d, HmqLinear)):
            w = m.q.bit_width()
            extra["threshold"] = m.q.threshold()
        a = FLOAT
        src = sources.get(info.name)
        if quant_acts and src is not None:
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
            "bits": m.q.bit_width() if quant_acts else FLOAT,
            "threshold": m.q.threshold() if quant_acts else None,
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
    quant_weights: bool = True,
    quant_acts: bool = True,
) -> BitConfig:
    """The bit config of the current hard choices of ``model`` (see the module docstring).

    A part the run left float (``quant_weights`` / ``quant_acts`` False) is written as 32 bits.
    """
    layers, acts = layer_bits(model, input_size, quant_weights, quant_acts)
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
    return save_figure(fig, path)


def write_outputs(
    model: nn.Module,
    arch: str,
    num_classes: int,
    input_size: int,
    out_dir: Path,
    source: str,
    costs: dict[str, Any] | None = None,
    quant_weights: bool = True,
    quant_acts: bool = True,
) -> tuple[Path, Path]:
    """Write ``bitconfig.json`` and ``bits.png`` into ``out_dir``; returns both paths.

    ``quant_weights`` / ``quant_acts`` as in :func:`make_bitconfig` (float parts written as 32 bits).
    """
    cfg = make_bitconfig(model, arch, num_classes, input_size, source, costs, quant_weights, quant_acts)
    cfg_path = write_bitconfig(cfg, out_dir / "bitconfig.json")
    png = plot_bits(cfg, out_dir / "bits.png")
    return cfg_path, png


def _fix_choice(block: HMQ, bits: int, threshold: float | None, default_shift: int, where: str) -> None:
    """Make ``(bits, threshold)`` the hard choice of ``block``: its logit FIXED_LOGIT, every other pair 0.

    The threshold candidate is the one nearest to ``threshold`` in log2 (``default_shift`` when None).
    """
    rows = (block.bits_vector == float(bits)).nonzero().flatten()
    if rows.numel() == 0:
        raise BitConfigError(
            f"layer {where!r}: {bits} bits is not a candidate {block.bits_vector.int().tolist()}"
        )
    candidates = block.thresholds()
    if threshold is None:
        col = min(default_shift, candidates.numel() - 1)
    else:
        if not threshold > 0:
            raise BitConfigError(f"layer {where!r}: threshold must be > 0, got {threshold}")
        col = int((torch.log2(candidates) - torch.log2(torch.tensor(float(threshold)))).abs().argmin())
    with torch.no_grad():
        block.search_matrix.zero_()
        block.search_matrix[0, int(rows[0]), col, 0] = FIXED_LOGIT


def apply_bitconfig(model: nn.Module, cfg: BitConfig, input_size: int, arch: str | None = None) -> None:
    """Fix every HMQ block of ``model`` to the choices of ``cfg`` (the inverse of :func:`make_bitconfig`).

    Weight blocks take the layer's ``w`` (one of their candidates) and ``threshold`` (default: the second
    candidate, the power-of-two ceiling of max|w|). Activation blocks take the ``a`` (and ``a_threshold``)
    of the layers reading them directly, else their entry of ``extra.activations``; two readers asking
    for different bits are an error; blocks named nowhere keep their bits (8 before any bit rule). The
    activation thresholds default to the largest candidate (the statistics pass maximum), so call this
    after the statistics pass.
    """
    if arch is not None and cfg.arch != arch:
        raise BitConfigError(f"bit config is for {cfg.arch!r}, the network is {arch!r}")
    modules = dict(model.named_modules())
    weighted = {n for n, m in modules.items() if isinstance(m, (HmqConv2d, HmqLinear))}
    unknown = [n for n in cfg.layers if n not in modules]
    if unknown:
        raise BitConfigError(f"layer(s) not in the network: {', '.join(unknown[:5])}")
    missing = sorted(weighted - set(cfg.layers))
    if missing:
        raise BitConfigError(f"bit config lacks layer(s) {', '.join(missing[:5])}")
    wanted: dict[str, tuple[int, float | None, str]] = {}
    for entry in cfg.extra.get("activations", []):
        if entry.get("name") in modules and isinstance(modules[entry["name"]], HmqActivation):
            wanted[entry["name"]] = (int(entry["bits"]), entry.get("threshold"), "")
    sources = input_activations(model, input_size)
    for name, lb in cfg.layers.items():
        m = modules[name]
        if name in weighted:
            _fix_choice(m.q, lb.w, lb.extra.get("threshold"), 1, name)
        elif lb.w != FLOAT:
            raise BitConfigError(f"layer {name!r} is float in HMQ, the bit config gives it {lb.w} bits")
        src = sources.get(name)
        if src is None or lb.a >= FLOAT:
            continue
        prev = wanted.get(src)
        if prev is not None and prev[2] and prev[0] != lb.a:
            raise BitConfigError(
                f"layers {prev[2]!r} and {name!r} read the same activation {src!r} at {prev[0]} and {lb.a} bits"
            )
        wanted[src] = (lb.a, lb.extra.get("a_threshold"), name)
    for name, (bits, threshold, _) in wanted.items():
        block = modules[name].q
        block.set_bits([bits])
        _fix_choice(block, bits, threshold, 0, name)
