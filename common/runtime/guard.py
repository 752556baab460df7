"""A guard against NaN/inf losses that costs no host sync inside the training step.

A loop that diverges (a learning rate that is far too large, 1-bit quantizers, fp16 overflow) used to log
``Loss nan``, save a checkpoint full of NaN weights over the last good one and exit with status 0. The
guard turns that into a user error (one line, exit status 2) that names the epoch and step of the first
non-finite value and the last good checkpoint, raised *before* the bad weights are saved.

Use in a loop that does not read its loss on the host every step::

    guard = LossGuard(checkpoint=out / "checkpoint.pth.tar")
    for epoch in ...:
        for step, batch in enumerate(loader):
            loss = ...
            guard.observe(loss, epoch=epoch, step=step)   # device-side bookkeeping only
            ...
        guard.check()                                     # one sync; before anything is saved

``observe`` keeps the position of the first non-finite loss in a device tensor (a comparison and a
``where`` per step, no transfer); ``check`` reads it once, so call it where the loop synchronises anyway
(end of epoch, a log line, before a checkpoint). Under DDP ``check`` also takes the minimum over the ranks
(one scalar all-reduce), so every rank raises at the same point and none is left waiting in a collective;
call it at the same points on every rank. A loop that already has the loss as a Python float (it called
``.item()`` for its log) uses :func:`check_finite` on that float instead.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist

from .distributed import is_dist_initialized
from .errors import NonFiniteLossError

__all__ = ["LossGuard", "check_finite", "last_good_text"]

# Epoch and step packed into one int64 so that one ``where`` records both; "nothing seen" is the largest code.
_STEP_BITS = 32
_NONE = (1 << 62) - 1

CheckpointRef = str | os.PathLike[str] | Callable[[], "str | os.PathLike[str] | None"] | None


def last_good_text(checkpoint: CheckpointRef) -> str:
    """``"the last good checkpoint is P"`` when the file ``P`` exists, else ``"no checkpoint was written"``.

    ``checkpoint`` is a path, a callable returning one (for runs whose checkpoint name changes), or ``None``.
    """
    path = checkpoint() if callable(checkpoint) else checkpoint
    if path is not None and str(path) and Path(path).is_file():
        return f"the last good checkpoint is {path}"
    return "no checkpoint was written" if path is not None else "nothing was saved from this run"


def _where(epoch: int | None, step: int | None) -> str:
    parts = []
    if epoch is not None:
        parts.append(f"epoch {epoch}")
    if step is not None:
        parts.append(f"step {step}")
    return " at " + " ".join(parts) if parts else ""


def check_finite(
    value: float | torch.Tensor,
    *,
    epoch: int | None = None,
    step: int | None = None,
    what: str = "loss",
    checkpoint: CheckpointRef = None,
) -> None:
    """Raise :class:`NonFiniteLossError` when ``value`` (a float, or a tensor: syncs) is NaN or infinite.

    For loops that already hold the value on the host; the message names ``what``, the epoch and step and
    the last good checkpoint (see :func:`last_good_text`).
    """
    number = float(value.detach().float().sum().item()) if isinstance(value, torch.Tensor) else float(value)
    if math.isfinite(number):
        return
    raise NonFiniteLossError(
        f"non-finite {what} ({number}){_where(epoch, step)}; {last_good_text(checkpoint)} "
        "(lower the learning rate or check the bit-widths)"
    )


class LossGuard:
    """Notes the first non-finite loss of a loop on the device and reports it at :meth:`check` (module doc).

    ``checkpoint`` (path, callable or ``None``) is named in the error as the last good one if it exists;
    ``what`` names the quantity (``"loss"``, ``"reconstruction loss"``...).
    """

    def __init__(self, checkpoint: CheckpointRef = None, what: str = "loss") -> None:
        self.checkpoint = checkpoint
        self.what = what
        self._first: torch.Tensor | None = None
        self._epoch_seen: int | None = None

    def observe(self, loss: torch.Tensor, *, epoch: int | None = None, step: int = 0) -> None:
        """Record ``loss`` (any shape) of ``step`` in ``epoch``; no host sync."""
        loss = loss.detach()
        if self._first is None or self._first.device != loss.device:
            self._first = torch.full((), _NONE, dtype=torch.int64, device=loss.device)
        code = (max(int(epoch), 0) << _STEP_BITS if epoch is not None else 0) + max(int(step), 0)
        bad = ~torch.isfinite(loss).all()
        self._first = torch.where(bad & (self._first == _NONE), code, self._first)
        self._epoch_seen = epoch if epoch is not None else self._epoch_seen

    def reset(self) -> None:
        """Forget what was observed (e.g. a search starting a new, independent fine-tune)."""
        self._first = None

    def check(self) -> None:
        """Raise :class:`NonFiniteLossError` if a non-finite loss was observed (on any rank under DDP)."""
        first = self._first
        if is_dist_initialized():
            if first is None:  # this rank saw no loss: still take part in the collective
                device = "cuda" if dist.get_backend() == "nccl" else "cpu"
                if device == "cuda":
                    device = torch.device("cuda", torch.cuda.current_device())
                first = torch.full((), _NONE, dtype=torch.int64, device=device)
            first = first.clone()
            dist.all_reduce(first, op=dist.ReduceOp.MIN)
        if first is None:
            return
        code = int(first.item())
        if code == _NONE:
            return
        epoch = code >> _STEP_BITS if self._epoch_seen is not None else None
        step = code & ((1 << _STEP_BITS) - 1)
        raise NonFiniteLossError(
            f"non-finite {self.what}{_where(epoch, step)}; {last_good_text(self.checkpoint)} "
            "(lower the learning rate or check the bit-widths)"
        )
