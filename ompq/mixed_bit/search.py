"""OMPQ's search as one function (docs/ompq.md §3.1-3.2): a float model and one batch in, a bit config out.

:func:`search` chains the steps of the original ``feature_extract.py``:

1. the model's searchable entries (:mod:`ompq.mixed_bit.searchable`) and their costs in the original's counting:
   p_i parameters and f_i FLOPs per entry; for QAT the stem conv and the fc are fixed at W8A8 and counted in
   FL_p / FL_f, for PTQ they are entries (FL = 0);
2. the feature X_i (N x D_i) of every entry on ``images``, BatchNorm on the batch's statistics;
3. ORM_ij = linear CKA(X_i, X_j), γ_i = Σ_{j≠i} ORM_ij, θ_i = exp(−β·γ_i);
4. x = argmin Σ_i c_i x_i, c_i = −mean(θ_i, ..., θ_{L−1}), subject to Σ_i p_i x_i ≤ 2^20·budget − FL_p and
   x_i ∈ [0.5, 1] (QAT) or [0.25, 0.5] (PTQ), by SLSQP from x = 1; then b_i = 8·x_i rounded (DFS under the
   continuous size for resnet18, numpy round-half-to-even otherwise, as the original picks by model name);
5. the bit config: the layers of entry i get (w, a) = (b_i, ``abits``), the fixed layers (8, 8).

Costs written into the bit config: size_Mb = (Σ_i b_i·p_i/8 + FL_p)/2^20 (MiB, OMPQ's "Mb"), fp32_size_Mb =
4·(Σ_i p_i + FL_p)/2^20, GBOPs = (64·FL_f + a·Σ_i b_i·f_i)/1e9 with a = ``abits``, and GBOPs_a5_printed, the
same with a = 5 (the line the original prints).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy
import torch
from torch import nn

from common.bitconfig import BitConfig, LayerBits
from common.layers import LINEAR, enumerate_layers
from ompq.mixed_bit.allocation import BOUNDS, MIB, AllocationError, allocate, min_size_mib, size_of
from ompq.mixed_bit.features import BN_MODES, extract_features
from ompq.mixed_bit.orm import gamma_of, negated_importance, orm_matrix
from ompq.mixed_bit.searchable import (
    MODES,
    cost_key,
    entry_costs,
    fc_flops_width,
    fixed_layers,
    searchable_entries,
)

#: bits of the layers the QAT search keeps fixed (stem conv and fc), weights and activations
FIXED_BITS = 8
#: activation bits of the BOPs line the original prints whatever the config's activation bits
PRINTED_ABITS = 5


class SearchError(ValueError):
    """Bad input to :func:`search` (reported in one line by the entrypoint)."""

    user_error = True


def search(
    model: nn.Module,
    images: torch.Tensor,
    budget: float,
    beta: float,
    *,
    quant_type: str = "QAT",
    arch: str | None = None,
    abits: int = 8,
    rounding: str = "auto",
    solver: str = "slsqp",
    bn_mode: str = "train",
    num_classes: int | None = None,
    source: str = "",
    record: dict[str, Any] | None = None,
) -> BitConfig:
    """OMPQ's bit allocation for ``model`` under a size ``budget`` in MiB (module docstring for the formulas).

    ``model``: a ResNet (torchvision block structure: ``layer1..4`` of BasicBlock/Bottleneck, ``fc``) or a
    MobileNetV2 (``features`` of InvertedResidual, ``classifier``), any widths; it is run once on ``images``
    (N x C x H x W, N ≥ 2, moved to the model's device) and its modes and BN statistics are left as they were.
    ``beta``: β of θ = exp(−β·γ). ``quant_type``: QAT (bits 4-8, stem and fc fixed at W8A8) or PTQ (bits 2-4, all
    layers searched). ``arch``: the name written into the bit config (a ``common.models`` name for files that
    the entrypoints read back; default the model's class name); ``resnet18`` also selects DFS rounding under
    ``rounding='auto'`` and the FLOP constants follow it (:func:`~ompq.mixed_bit.searchable.cost_key`).
    ``abits``: the activation bits of every searched layer (never searched by OMPQ). ``solver``: ``slsqp`` (the
    original) or ``milp`` (exact integer optimum). ``bn_mode``: ``train`` (the original) or ``eval``.
    ``record``: when given, filled with the intermediate results (``entries``, ``params``, ``flops``,
    ``fl_params``, ``fl_flops``, ``orm``, ``gamma``, ``neg_theta``, ``allocation``).

    A budget below the all-lowest-bits size, or bad arguments, raise a ValueError with ``user_error = True``.
    The layer1.0 projection of a BasicBlock ResNet (OMPQ's search ResNet-18) belongs to no entry and gets no
    bits: the original charges nothing for it and the deployed ResNet-18 has none.
    """
    if quant_type not in MODES:
        raise SearchError(f"quant_type must be QAT or PTQ, got {quant_type!r}")
    if bn_mode not in BN_MODES:
        raise SearchError(f"bn_mode must be train or eval, got {bn_mode!r}")
    if not 1 <= abits <= 32:
        raise SearchError(f"activation bits must be in [1, 32], got {abits}")
    if images.dim() != 4 or images.shape[0] < 2:
        raise SearchError(
            f"images must be one N x C x H x W batch with N >= 2, got shape {tuple(images.shape)}"
        )
    if rounding == "auto":
        rounding = "dfs" if arch == "resnet18" else "around"
    name = arch if arch is not None else type(model).__name__
    param = next(model.parameters(), None)
    if param is not None:
        images = images.to(param.device)
    h, w = images.shape[-2:]
    size = int(h) if h == w else (int(h), int(w))
    infos = enumerate_layers(model, size, in_channels=images.shape[1])
    entries = searchable_entries(model, quant_type)
    fixed = fixed_layers(model, quant_type)
    params, fl_params, flops, fl_flops = entry_costs(
        entries, fixed, infos, cost_key(arch, model), fc_in=fc_flops_width(model)
    )
    params_mib = np.asarray(params, dtype=np.float64) / MIB
    fl_mib = fl_params / MIB
    floor = min_size_mib(params_mib, fl_mib, quant_type)
    if budget < floor:
        raise AllocationError(
            f"budget {budget} Mb is below the smallest {quant_type} size of {name} ({floor:.4f} Mb with every "
            f"searchable layer at {int(8 * BOUNDS[quant_type][0])} bits)"
        )

    started = time.perf_counter()
    features = extract_features(model, entries, images, bn_mode)
    t_feat = time.perf_counter()
    matrix = orm_matrix(features)
    gamma = gamma_of(matrix)
    neg_theta = negated_importance(gamma, beta)
    t_orm = time.perf_counter()
    result = allocate(neg_theta, params_mib, budget, fl_mib, quant_type, rounding, solver)
    t_end = time.perf_counter()

    bits = result.bits
    assigned: dict[str, LayerBits] = {n: LayerBits(FIXED_BITS, FIXED_BITS) for n in fixed}
    for entry, b in zip(entries, bits, strict=True):
        for layer in entry.layers:
            assigned[layer] = LayerBits(int(b), abits)
    layers = {i.name: assigned[i.name] for i in infos if i.name in assigned}
    if num_classes is None and infos and infos[-1].kind == LINEAR:
        num_classes = infos[-1].out_channels

    def gbops(a: int) -> float:
        return (
            fl_flops * FIXED_BITS * FIXED_BITS + a * sum(f * b for f, b in zip(flops, bits, strict=True))
        ) / 1e9

    timing = {
        "features_s": t_feat - started,
        "orm_s": t_orm - t_feat,
        "allocation_s": t_end - t_orm,
        "search_s": t_end - started,
    }
    details = {
        "bits": bits, "x": result.x.tolist(), "beta": beta, "solver": solver, "rounding": result.rounding,
        "bn_mode": bn_mode, "gamma": gamma.tolist(), "neg_theta": neg_theta.tolist(),
        "scipy_version": scipy.__version__, "batch": int(images.shape[0]), **timing,
    }  # fmt: skip
    costs = {
        "size_Mb": size_of(bits, params_mib, fl_mib),
        "budget_Mb": budget,
        "fp32_size_Mb": 4 * (float(np.sum(params_mib)) + fl_mib),
        "GBOPs_a5_printed": gbops(PRINTED_ABITS),
        "GBOPs": gbops(abits),
    }
    if record is not None:
        record.update(
            entries=entries, params=params, flops=flops, fl_params=fl_params, fl_flops=fl_flops,
            orm=matrix, gamma=gamma, neg_theta=neg_theta, allocation=result,
        )  # fmt: skip
    return BitConfig(
        arch=name, layers=layers, method="ompq", source=source, num_classes=num_classes, input_size=size,
        costs=costs, extra={"ompq": {"mode": quant_type.lower(), "a_bits": abits}, "search": details},
    )  # fmt: skip
