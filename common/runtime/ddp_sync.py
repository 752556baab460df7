"""Statistics over the global batch of a DDP run: synchronised BatchNorm on any device, range all-reduce.

Under DDP every rank normalises with the mean and variance of its own share of the batch; a one-process
run with the same global batch uses the statistics of the whole batch. :func:`convert_sync_batchnorm`
replaces every BatchNorm by one that reduces its statistics over all ranks: PyTorch's
:class:`torch.nn.SyncBatchNorm` on CUDA, and :class:`GlobalBatchNorm` elsewhere (``nn.SyncBatchNorm``
refuses CPU tensors, and the CPU/gloo path is what the tests run; it also computes the statistics with
the same float64 reduction in a one-process run, so that run is the exact reference of a DDP one). :func:`global_moments` is the
differentiable reduction itself, for modules that compute their own batch statistics (HAWQ's
``QuantBnConv2d``); :func:`all_reduce_min_max` and :func:`all_gather_rows` serve activation-range
trackers. Without a process group (or with one process) everything reduces to the local computation.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = [
    "GlobalBatchNorm",
    "all_gather_rows",
    "all_reduce_min_max",
    "convert_sync_batchnorm",
    "average_gradients",
    "check_ranks_agree",
    "global_moments",
    "local_batch_statistics",
    "sum_each_over_ranks",
    "sum_over_ranks",
    "world_active",
]


def world_active() -> bool:
    """True when a process group with more than one rank exists."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose backward is again a sum over ranks: every rank's loss reaches every input."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:  # noqa: ANN401
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:  # noqa: ANN401
        out = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out


def sum_over_ranks(tensor: Tensor) -> Tensor:
    """Differentiable sum of ``tensor`` over all ranks (``tensor`` itself when not distributed)."""
    return _SumOverRanks.apply(tensor) if world_active() else tensor


def sum_each_over_ranks(tensors: Sequence[Tensor]) -> list[Tensor]:
    """Every tensor of ``tensors`` summed over the ranks, by one all-reduce of their concatenation (new tensors,
    views of one buffer; the inputs themselves when not distributed)."""
    if not world_active() or not tensors:
        return list(tensors)
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    chunks = flat.split([t.numel() for t in tensors])
    return [c.view_as(t) for c, t in zip(chunks, tensors, strict=True)]


def global_moments(x: Tensor, dims: Sequence[int], float64: bool = True) -> tuple[Tensor, Tensor, int]:
    """``(mean, sum of squared deviations, count)`` of ``x`` over ``dims`` and over every rank's ``x``.

    Two passes (sum, then sum of squared deviations from the global mean), in float64 by default; both
    tensors stay in that working precision (divide, then cast to ``x.dtype``: the biased variance is
    ``m2 / n``, the unbiased one ``m2 / (n - 1)``) and carry gradients to every rank's input.
    """
    dims = tuple(dims)
    local = 1
    for d in dims:
        local *= x.shape[d]
    count = torch.tensor([float(local)], dtype=torch.float64, device=x.device)
    if world_active():
        dist.all_reduce(count, op=dist.ReduceOp.SUM)
    n = int(count.item())
    xs = x.double() if float64 else x
    mean = sum_over_ranks(xs.sum(dim=dims)) / n
    shape = [1] * x.dim()
    for i, size in enumerate(x.shape):
        if i not in dims:
            shape[i] = size
    dev = xs - mean.reshape(shape)
    m2 = sum_over_ranks((dev * dev).sum(dim=dims))
    return mean, m2, n


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics cover the whole DDP batch, on any device (CPU with gloo).

    Same parameters, buffers and state-dict keys as ``nn.BatchNorm1d/2d/3d``. In training: the mean and
    biased variance over every rank's batch (:func:`global_moments`, float64 sums) normalise, the running
    mean moves by ``momentum`` towards that mean and the running variance towards the unbiased variance,
    as PyTorch's BatchNorm does with one process. One process takes the same arithmetic, so a DDP run and
    a one-process run of the same global batch differ only by the order of float32 sums elsewhere (with
    PyTorch's own float32 BatchNorm kernel in the one-process run, training amplifies its rounding
    differences). In eval mode it is plain BatchNorm.
    """

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002 - torch's name
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {input.dim()}-D")

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if not self.training:
            return super().forward(input)
        self._check_input_dim(input)
        dims = [0, *range(2, input.dim())]
        mean64, m2, n = global_moments(input, dims)
        mean, var = mean64.to(input.dtype), (m2 / n).to(input.dtype)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            assert self.num_batches_tracked is not None
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = (
                    1.0 / float(self.num_batches_tracked) if self.momentum is None else float(self.momentum)
                )
                unbiased = (m2.detach() / max(n - 1, 1)).to(input.dtype)
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)
        shape = [1, input.shape[1]] + [1] * (input.dim() - 2)
        out = (input - mean.reshape(shape)) * torch.rsqrt(var.reshape(shape) + self.eps)
        if self.affine:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        return out


def _copy_into(new: _BatchNorm, old: _BatchNorm) -> _BatchNorm:
    with torch.no_grad():
        if old.affine:
            new.weight = old.weight
            new.bias = old.bias
        if old.track_running_stats:
            new.running_mean = old.running_mean
            new.running_var = old.running_var
            new.num_batches_tracked = old.num_batches_tracked
    new.train(old.training)
    return new


def _convert_global(module: nn.Module) -> nn.Module:
    if isinstance(module, _BatchNorm) and not isinstance(module, (GlobalBatchNorm, nn.SyncBatchNorm)):
        new = GlobalBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        return _copy_into(new, module)
    for name, child in module.named_children():
        replaced = _convert_global(child)
        if replaced is not child:
            setattr(module, name, replaced)
    return module


def convert_sync_batchnorm(model: nn.Module, device: torch.device | str) -> tuple[nn.Module, int]:
    """Every BatchNorm of ``model`` made synchronised: ``(model, how many were converted)``.

    ``nn.SyncBatchNorm.convert_sync_batchnorm`` on CUDA, :class:`GlobalBatchNorm` on other devices. The
    parameters and buffers are the same objects, so state-dict keys and values are unchanged.
    """
    before = sum(isinstance(m, _BatchNorm) for m in model.modules())
    if torch.device(device).type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    else:
        model = _convert_global(model)
    return model, before


@contextmanager
def local_batch_statistics(model: nn.Module) -> Iterator[None]:
    """Within the block every synchronised BatchNorm of ``model`` (:class:`GlobalBatchNorm`,
    ``nn.SyncBatchNorm``) acts as plain BatchNorm on this rank's input alone: for a forward that every rank
    runs on the same whole batch (a calibration pass), which a reduction over ranks would count ``W`` times."""
    synced = [m for m in model.modules() if isinstance(m, (GlobalBatchNorm, nn.SyncBatchNorm))]
    for m in synced:
        m.forward = types.MethodType(_BatchNorm.forward, m)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for m in synced:
            del m.forward


@torch.no_grad()
def all_reduce_min_max(lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
    """``(min over ranks of lo, max over ranks of hi)``; the inputs themselves when not distributed."""
    if not world_active():
        return lo, hi
    lo, hi = lo.detach().clone(), hi.detach().clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    return lo, hi


@torch.no_grad()
def all_gather_rows(x: Tensor) -> Tensor:
    """Every rank's 1-D ``x`` concatenated in rank order (lengths may differ); ``x`` when not distributed."""
    if not world_active():
        return x
    x = x.detach().reshape(-1).contiguous()
    world = dist.get_world_size()
    length = torch.tensor([x.numel()], dtype=torch.int64, device=x.device)
    lengths = [torch.zeros_like(length) for _ in range(world)]
    dist.all_gather(lengths, length)
    sizes = [int(n.item()) for n in lengths]
    longest = max(sizes)
    padded = torch.zeros(longest, dtype=x.dtype, device=x.device)
    padded[: x.numel()] = x
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])


@torch.no_grad()
def check_ranks_agree(tensors: Sequence[Tensor], what: str) -> None:
    """Raise ``RuntimeError`` naming ``what`` unless ``tensors`` hold the same values on every rank.

    Compares a float64 checksum (sum and sum of index-weighted values) of the tensors; for state that every rank
    computes on its own and must not drift (K-means codebooks, weights after a deterministic transform).
    """
    if not world_active() or not tensors:
        return
    flat = torch.cat([t.detach().reshape(-1).double() for t in tensors])
    ramp = torch.arange(1, flat.numel() + 1, dtype=torch.float64, device=flat.device)
    mine = torch.stack([flat.sum(), (flat * ramp).sum()])
    parts = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, mine)
    if any(not torch.equal(p, parts[0]) for p in parts):
        raise RuntimeError(f"{what} differ between the processes; the ranks must compute them identically")


@torch.no_grad()
def average_gradients(params: Sequence[Tensor]) -> None:
    """Replace every ``p.grad`` of ``params`` by its mean over the ranks (one all-reduce of the flattened
    gradients); for loops that step without a DDP wrapper. A no-op without a process group."""
    if not world_active():  # checked first: one process calls this every step
        return
    grads = [p.grad for p in params if p.grad is not None]
    world = dist.get_world_size()
    for g, total in zip(grads, sum_each_over_ranks(grads), strict=True):
        torch.div(total, world, out=g)
