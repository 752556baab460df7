"""DDP set-up from the ``torchrun`` environment (gloo on CPU, NCCL on CUDA) and small collectives.

Launch with ``torchrun --nproc_per_node=N script.py ...``; torchrun sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``, which :func:`init_distributed` reads. Without
them (or with ``WORLD_SIZE=1``) everything here degrades to single-process no-ops.
"""

from __future__ import annotations

import argparse
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .errors import UsageError

__all__ = [
    "DistInfo",
    "all_reduce_mean",
    "all_reduce_sum",
    "barrier",
    "broadcast_module_state",
    "add_local_rank_arg",
    "add_sync_bn_arg",
    "apply_local_rank_flag",
    "cleanup_distributed",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_dist_initialized",
    "is_main_process",
    "launched_world_size",
    "refuse_distributed",
    "unwrap_model",
    "wrap_ddp",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job. ``DistInfo()`` is the single-process case."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes files (rank 0)."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"environment variable {name}={value!r} is not an integer") from None


def is_dist_initialized() -> bool:
    """Whether a default process group exists."""
    return dist.is_available() and dist.is_initialized()


def init_distributed(
    backend: str | None = None,
    device: torch.device | str | None = None,
    timeout: float | datetime.timedelta | None = None,
) -> DistInfo:
    """Join the process group described by the torchrun environment.

    ``WORLD_SIZE`` unset or 1 gives the non-distributed ``DistInfo()``. Otherwise the backend is
    ``backend`` if given, else NCCL when ``device`` is CUDA (or, with no device given, when CUDA and
    NCCL are available) and gloo otherwise. For NCCL the current CUDA device is set to ``LOCAL_RANK``.
    ``timeout`` (seconds or a timedelta) bounds collectives, so a failed peer does not hang the job.
    Calling it again when a group already exists returns that group's info.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    if is_dist_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dist.get_backend())
    if world_size <= 1:
        return DistInfo(0, 1, 0, None)
    if not dist.is_available():
        raise UsageError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
    if backend is None:
        if device is not None:
            device_type = device.type if isinstance(device, torch.device) else torch.device(device).type
            use_nccl = device_type == "cuda"
        else:
            use_nccl = torch.cuda.is_available() and dist.is_nccl_available()
        backend = "nccl" if use_nccl else "gloo"
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise UsageError("the NCCL backend needs CUDA; use --device cpu (gloo) on this machine")
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    if isinstance(timeout, (int, float)):
        timeout = datetime.timedelta(seconds=timeout)
    dist.init_process_group(
        backend=backend, init_method="env://", rank=rank, world_size=world_size, timeout=timeout
    )
    return DistInfo(rank, world_size, local_rank, backend)


def launched_world_size() -> int:
    """The process count torchrun launched (``WORLD_SIZE``, 1 without it), readable before joining the group;
    a non-integer value is a one-line :class:`UsageError`."""
    return _env_int("WORLD_SIZE", 1)


def cleanup_distributed() -> None:
    """Destroy the default process group if there is one."""
    if is_dist_initialized():
        dist.destroy_process_group()


def get_rank() -> int:
    """Global rank, 0 when not distributed."""
    return dist.get_rank() if is_dist_initialized() else 0


def get_world_size() -> int:
    """Number of processes, 1 when not distributed."""
    return dist.get_world_size() if is_dist_initialized() else 1


def is_main_process() -> bool:
    """True on rank 0 and in a non-distributed run."""
    return get_rank() == 0


def barrier() -> None:
    """Wait for every rank; a no-op when not distributed."""
    if is_dist_initialized():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum of ``tensor`` over all ranks (a new tensor; the input is left as it is)."""
    out = tensor.detach().clone()
    if is_dist_initialized():
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Mean of ``tensor`` over all ranks (a new tensor; integer inputs come back as float)."""
    out = all_reduce_sum(tensor)
    if not out.is_floating_point():
        out = out.double()
    return out / get_world_size()


def wrap_ddp(model: nn.Module, device: torch.device, dist_info: DistInfo, **ddp_kwargs: object) -> nn.Module:
    """Move ``model`` to ``device`` and wrap it in DDP when the run is distributed.

    Returns the model itself for a single process. Extra keyword arguments go to
    :class:`~torch.nn.parallel.DistributedDataParallel` (e.g. ``find_unused_parameters=True``).
    Convert BatchNorm with ``nn.SyncBatchNorm.convert_sync_batchnorm`` first if you want
    synchronised statistics; plain BN normalises over each rank's share of the batch.
    """
    model = model.to(device)
    if not dist_info.distributed:
        return model
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return DistributedDataParallel(model, device_ids=[index], output_device=index, **ddp_kwargs)
    return DistributedDataParallel(model, **ddp_kwargs)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare module inside DDP / DataParallel (and ``torch.compile``) wrappers."""
    while True:
        if isinstance(model, (DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def broadcast_module_state(model: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers into every rank's ``model`` (what DDP does when it wraps a
    model), for work done on the bare model before the wrap; a no-op when not distributed."""
    if not is_dist_initialized() or dist.get_world_size() == 1:
        return
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor.data, src=src)


def add_local_rank_arg(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, first: str = "--local_rank"
) -> None:
    """``--local_rank`` and ``--local-rank`` (``first`` is listed first, the original's spelling) into
    ``args.local_rank`` (default ``None``), for :func:`apply_local_rank_flag`."""
    second = "--local-rank" if first == "--local_rank" else "--local_rank"
    parser.add_argument(
        first,
        second,
        dest="local_rank",
        type=int,
        default=None,
        help="as python -m torch.distributed.launch passes it: becomes LOCAL_RANK when the launcher set none",
    )


def add_sync_bn_arg(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, underscore: bool = True, note: str = ""
) -> None:
    """``--sync-bn`` (and ``--sync_bn`` with ``underscore``) into ``args.sync_bn``: BatchNorm statistics of the whole
    global batch under torchrun (:func:`~common.runtime.ddp_sync.convert_sync_batchnorm`); ``note`` is prefixed to
    the help."""
    names = ["--sync-bn", "--sync_bn"] if underscore else ["--sync-bn"]
    parser.add_argument(
        *names,
        dest="sync_bn",
        action="store_true",
        help=f"{note}BatchNorm statistics over the whole global batch (default: each process's share)",
    )


def apply_local_rank_flag(value: int | None) -> None:
    """Honour ``--local-rank``/``--local_rank`` as ``python -m torch.distributed.launch`` passes it.

    ``None`` (flag not given) does nothing. Without a ``LOCAL_RANK`` in the environment the flag's
    value becomes ``LOCAL_RANK``, which :func:`init_distributed` and the device choice read; a value
    that disagrees with the launcher's ``LOCAL_RANK`` is a one-line :class:`UsageError`.
    """
    if value is None:
        return
    if value < 0:
        raise UsageError(f"--local-rank must be >= 0, got {value}")
    env = os.environ.get("LOCAL_RANK")
    if env is None or env == "":
        os.environ["LOCAL_RANK"] = str(value)
    elif _env_int("LOCAL_RANK", 0) != value:
        raise UsageError(f"--local-rank {value} disagrees with LOCAL_RANK={env} set by the launcher")


def refuse_distributed(prog: str) -> None:
    """One-line :class:`UsageError` (exit status 2) when started under torchrun with ``WORLD_SIZE`` > 1.

    For the single-process entrypoints: under ``torchrun --nproc_per_node N`` they would otherwise run the
    same job N times, all writing the same files.
    """
    world = launched_world_size()
    if world > 1:
        raise UsageError(
            f"{prog} runs in one process and has no DDP support: start it without torchrun "
            f"(WORLD_SIZE={world})"
        )
