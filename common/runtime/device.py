"""Device choice and mixed precision (``torch.amp``)."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

from .errors import UsageError

__all__ = ["AMP_DTYPES", "autocast_context", "choose_device", "make_grad_scaler"]

#: Spellings accepted for the ``--amp`` flag and ``autocast_context(dtype=...)``.
AMP_DTYPES: dict[str, torch.dtype] = {
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
    "half": torch.float16,
}


def _local_rank() -> int:
    try:
        return int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return 0


def choose_device(name: str | torch.device | None = None) -> torch.device:
    """Resolve a ``--device`` value to a :class:`torch.device`.

    ``None``/``"auto"``: CUDA if available (device ``LOCAL_RANK`` under torchrun), else CPU.
    ``"cuda"`` without an index also picks ``LOCAL_RANK``. ``"cpu"``, ``"cuda:N"`` and ``"mps"`` are
    taken as given. An unknown or unavailable device raises :class:`UsageError`.
    """
    if isinstance(name, torch.device):
        name = str(name)
    spec = (name or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", _local_rank() % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError):
        raise UsageError(f"unknown device {name!r} (expected auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {name!r} requested but CUDA is not available on this machine")
        count = torch.cuda.device_count()
        index = _local_rank() if device.index is None else device.index
        if index >= count:
            raise UsageError(f"device {name!r} requested but only {count} CUDA device(s) are visible")
        return torch.device("cuda", index)
    if device.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise UsageError(f"device {name!r} requested but MPS is not available on this machine")
        return device
    raise UsageError(f"unsupported device {name!r} (expected auto, cpu, cuda, cuda:N or mps)")


def _device_type(device: torch.device | str) -> str:
    return device.type if isinstance(device, torch.device) else torch.device(device).type


def _amp_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return AMP_DTYPES[dtype.lower()]
    except KeyError:
        raise UsageError(f"unknown autocast dtype {dtype!r} (expected none, bf16 or fp16)") from None


def autocast_context(
    device: torch.device | str, enabled: bool = True, dtype: str | torch.dtype | None = "bf16"
) -> contextlib.AbstractContextManager[Any]:
    """``torch.amp.autocast`` for ``device`` in ``dtype`` (``"bf16"`` or ``"fp16"``).

    Returns a null context when ``enabled`` is false or ``dtype`` is ``None``/``"none"``, so an
    entrypoint can pass its ``--amp`` value straight through:
    ``autocast_context(device, args.amp != "none", args.amp)``.
    """
    if not enabled or dtype is None or (isinstance(dtype, str) and dtype.lower() == "none"):
        return contextlib.nullcontext()
    return torch.amp.autocast(device_type=_device_type(device), dtype=_amp_dtype(dtype))


def make_grad_scaler(
    device: torch.device | str, enabled: bool = True, dtype: str | torch.dtype | None = "fp16"
) -> torch.amp.GradScaler:
    """A :class:`torch.amp.GradScaler`, active only for fp16 autocast on CUDA.

    bf16 needs no loss scaling, so for bf16, CPU or ``enabled=False`` a disabled scaler is returned;
    its ``scale``/``step``/``update`` then pass through, so the training loop has one code path.
    """
    device_type = _device_type(device)
    active = bool(enabled) and device_type == "cuda" and dtype is not None
    if active and isinstance(dtype, str):
        active = dtype.lower() != "none" and _amp_dtype(dtype) == torch.float16
    elif active:
        active = dtype == torch.float16
    return torch.amp.GradScaler(device_type, enabled=active)
