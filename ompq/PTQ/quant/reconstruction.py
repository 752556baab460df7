"""BRECQ block/layer reconstruction (docs/ompq.md §3.4).

Weights (``act_quant=False``): every weight quantizer of the unit becomes AdaRound; Adam (lr 1e-3) on all α;
loss = L_rec (p = 2) + [count ≥ warmup·iters] λ Σ (1 − |2h − 1|^β_t) with β_t from :class:`LinearTempDecay`;
hard rounding afterwards. Activations (``act_quant=True``): Adam (``lr``) with cosine annealing on every activation
step size of the unit, loss = L_rec (p = ``--p``). Inputs come from the quantized network when ``asym``, targets
from the float network; both are cached over the calibration set in batches of ``batch_size``.

Under torchrun every rank holds the same calibration set, caches and generator state, so all draw the same
``batch_size`` indices per iteration; rank ``r`` of ``W`` computes the loss of its ``batch_size / W`` of them and
the gradients are averaged over the ranks before the step: the step of one process on the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import torch
import torch.distributed as dist
from torch import Tensor, nn

from common.runtime import LossGuard, progress
from common.runtime.ddp_sync import average_gradients, world_active
from ompq.PTQ.quant.adaround import AdaRoundQuantizer, rounding_regularizer
from ompq.PTQ.quant.quant_block import BaseQuantBlock
from ompq.PTQ.quant.quant_layer import QuantModule
from ompq.PTQ.quant.quant_model import QuantModel
from ompq.PTQ.quant.quantizer import lp_loss


class LinearTempDecay:
    """β(t) = start_b for t < rel_start·t_max, then linear to end_b at t_max."""

    def __init__(
        self, t_max: int, rel_start_decay: float = 0.2, start_b: float = 10, end_b: float = 2
    ) -> None:
        self.t_max = t_max
        self.start_decay = rel_start_decay * t_max
        self.start_b = start_b
        self.end_b = end_b

    def __call__(self, t: int) -> float:
        if t < self.start_decay:
            return self.start_b
        rel = (t - self.start_decay) / (self.t_max - self.start_decay)
        return self.end_b + (self.start_b - self.end_b) * max(0.0, 1 - rel)


class LossFunction:
    """Reconstruction loss + annealed rounding regulariser over every AdaRound quantizer of ``unit``."""

    def __init__(
        self,
        unit: nn.Module,
        round_loss: str = "relaxation",
        weight: float = 1.0,
        max_count: int = 2000,
        b_range: tuple[float, float] = (10, 2),
        decay_start: float = 0.0,
        warmup: float = 0.0,
        p: float = 2.0,
    ) -> None:
        self.unit = unit
        self.round_loss = round_loss
        self.weight = weight
        self.loss_start = max_count * warmup
        self.p = p
        self.temp_decay = LinearTempDecay(
            max_count,
            rel_start_decay=warmup + (1 - warmup) * decay_start,
            start_b=b_range[0],
            end_b=b_range[1],
        )
        self.count = 0

    def __call__(self, pred: Tensor, tgt: Tensor) -> Tensor:
        self.count += 1
        rec = lp_loss(pred, tgt, p=self.p)
        b = self.temp_decay(self.count)
        if self.round_loss == "none" or self.count < self.loss_start:
            return rec
        reg = pred.new_zeros(())
        for m in self.unit.modules():
            if isinstance(m, QuantModule) and isinstance(m.weight_quantizer, AdaRoundQuantizer):
                reg = reg + rounding_regularizer(m.weight_quantizer.get_soft_targets(), self.weight, b)
        return rec + reg


class _Stop(Exception):
    pass


@torch.no_grad()
def cache_unit_io(
    qnn: QuantModel, unit: nn.Module, cali: Tensor, asym: bool, act_quant: bool, batch_size: int = 32
) -> tuple[Tensor, Tensor]:
    """Inputs (from the quantized net when ``asym``) and float outputs of ``unit`` over ``cali``."""
    inputs, outputs = [], []
    store: dict[str, Tensor] = {}
    keep_output = [True]

    def hook(_m: nn.Module, inp: tuple, out: Tensor) -> None:
        store["in"] = inp[0].detach()
        if keep_output[0]:
            store["out"] = out.detach()
        raise _Stop

    handle = unit.register_forward_hook(hook)
    try:
        for i in range(cali.size(0) // batch_size):
            batch = cali[i * batch_size : (i + 1) * batch_size]
            qnn.set_quant_state(False, False)
            try:
                qnn(batch)
            except _Stop:
                pass
            if asym:
                keep_output[0] = False
                qnn.set_quant_state(True, act_quant)
                try:
                    qnn(batch)
                except _Stop:
                    pass
                keep_output[0] = True
            inputs.append(store["in"])
            outputs.append(store["out"])
    finally:
        handle.remove()
    qnn.set_quant_state(False, False)
    unit.set_quant_state(True, act_quant)
    return torch.cat(inputs), torch.cat(outputs)


def reconstruct(
    qnn: QuantModel,
    unit: nn.Module,
    cali_data: Tensor,
    batch_size: int = 32,
    iters: int = 20000,
    weight: float = 0.001,
    asym: bool = False,
    b_range: tuple[float, float] = (20, 2),
    warmup: float = 0.0,
    act_quant: bool = False,
    lr: float = 4e-5,
    p: float = 2.0,
    desc: str = "",
) -> None:
    """Block or layer reconstruction of ``unit`` (a quant block or a QuantModule) inside ``qnn``."""
    qnn.set_quant_state(False, False)
    unit.set_quant_state(True, act_quant)
    modules = [m for m in unit.modules() if isinstance(m, QuantModule)]
    if not act_quant:
        for m in modules:
            m.weight_quantizer = AdaRoundQuantizer(m.weight_quantizer, m.org_weight.data)
            m.weight_quantizer.soft_targets = True
        params = [m.weight_quantizer.alpha for m in modules]
        optimizer = torch.optim.Adam(params)
        scheduler = None
    else:
        params = []
        if isinstance(unit, BaseQuantBlock) and unit.act_quantizer.delta is not None:
            params.append(unit.act_quantizer.delta)
        params += [m.act_quantizer.delta for m in modules if m.act_quantizer.delta is not None]
        optimizer = torch.optim.Adam(params, lr=lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=iters, eta_min=0.0)
    loss_func = LossFunction(
        unit, "none" if act_quant else "relaxation", weight, iters, b_range, 0.0, warmup, p
    )
    inps, outs = cache_unit_io(qnn, unit, cali_data, asym, act_quant, batch_size)
    guard = LossGuard(what=f"reconstruction loss of {desc or 'a unit'}")
    world, rank = (dist.get_world_size(), dist.get_rank()) if world_active() else (1, 0)
    for step in progress(range(iters), desc=desc or "reconstruction", leave=False):
        idx = torch.randperm(inps.size(0))[:batch_size]
        if world > 1:  # this rank's share of the batch every rank drew
            idx = idx[rank * len(idx) // world : (rank + 1) * len(idx) // world]
        optimizer.zero_grad()
        err = loss_func(unit(inps[idx]), outs[idx])
        guard.observe(err, step=step)
        err.backward()
        average_gradients(params)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    guard.check()  # one read per unit, before its rounding is fixed
    for m in modules:
        if isinstance(m.weight_quantizer, AdaRoundQuantizer):
            m.weight_quantizer.soft_targets = False


def recon_model(
    qnn: QuantModel,
    module: nn.Module,
    done: Collection[str] = (),
    after_unit: Callable[[str], None] | None = None,
    prefix: str = "",
    **kwargs,  # noqa: ANN003
) -> None:
    """Walk the model in order: blocks → block reconstruction, stand-alone QuantModules → layer reconstruction.

    Units are named by their path below ``module`` (``prefix`` + name); those in ``done`` are skipped (a resumed
    run) and ``after_unit(name)`` runs after each one reconstructed (a resumable run checkpoints there).
    """
    for name, child in module.named_children():
        path = f"{prefix}{name}"
        if isinstance(child, (QuantModule, BaseQuantBlock)):
            if child.ignore_reconstruction or path in done:
                continue
            reconstruct(qnn, child, desc=name, **kwargs)
            if after_unit is not None:
                after_unit(path)
        else:
            recon_model(qnn, child, done, after_unit, f"{path}.", **kwargs)


def reconstruction_units(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """``(path, unit)`` of every unit :func:`recon_model` reconstructs, in its order."""
    units: list[tuple[str, nn.Module]] = []
    for name, child in module.named_children():
        path = f"{prefix}{name}"
        if isinstance(child, (QuantModule, BaseQuantBlock)):
            if not child.ignore_reconstruction:
                units.append((path, child))
        else:
            units += reconstruction_units(child, f"{path}.")
    return units


def as_weight_reconstructed(unit: nn.Module) -> None:
    """Give ``unit`` the structure a weight reconstruction leaves (AdaRound weight quantizers, hard rounding),
    so that the state dict of a resumed run's checkpoint loads into it."""
    for m in unit.modules():
        if isinstance(m, QuantModule) and not isinstance(m.weight_quantizer, AdaRoundQuantizer):
            m.weight_quantizer = AdaRoundQuantizer(m.weight_quantizer, m.org_weight.data)
            m.weight_quantizer.soft_targets = False
