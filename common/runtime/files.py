"""Atomic file writes and JSON conversion of argument values (no half-written outputs)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import enum
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

__all__ = ["atomic_open", "atomic_write_text", "to_jsonable", "write_json_atomic"]


def _fsync_dir(directory: Path) -> None:
    # Make the rename itself durable; not possible on every platform, so best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success fsync it and ``os.replace`` it onto ``path``.

    If the block raises, the temporary file is removed and ``path`` keeps its old content.
    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8). The file gets the permissions of a plain ``open``: 0666 less
    the process's umask.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o666 & ~_current_umask())  # mkstemp's 0600 would hide results from the user's group
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "w") as handle:
        handle.write(text)
    return Path(path)


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Write a matplotlib figure atomically (format from the file's suffix), close it, return the path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    plt.close(fig)
    return path


def to_jsonable(value: Any) -> Any:
    """Convert argument and result values to plain JSON types.

    Paths, devices, dtypes and unknown objects become strings; Namespaces, dataclasses and mappings
    become dicts; tuples and sets become lists; NumPy and 0-d torch values become Python numbers;
    non-finite floats become the strings ``"nan"``, ``"inf"``, ``"-inf"`` (strict JSON has none).
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, argparse.Namespace):
        return to_jsonable(vars(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    if isinstance(value, torch.Tensor):
        return to_jsonable(value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if callable(value):
        return getattr(value, "__qualname__", repr(value))
    return str(value)


def write_json_atomic(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> Path:
    """Write ``obj`` (made JSON-safe by :func:`to_jsonable`) to ``path`` atomically; returns the path."""
    text = json.dumps(to_jsonable(obj), indent=indent, sort_keys=False, allow_nan=False) + "\n"
    return atomic_write_text(path, text)
