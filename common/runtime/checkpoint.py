"""Checkpoints: atomic save, ``weights_only`` load, DDP prefix stripping, resume discovery."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .files import atomic_open

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "find_resume",
    "load_checkpoint",
    "save_checkpoint",
    "strip_module_prefix",
]

#: File endings :func:`find_resume` looks for in a folder.
CHECKPOINT_SUFFIXES: tuple[str, ...] = (".pth.tar", ".pth", ".pt", ".ckpt", ".tar")


def save_checkpoint(
    state: Mapping[str, Any],
    path: str | os.PathLike[str],
    is_best: bool = False,
    best_name: str = "model_best.pth.tar",
) -> Path:
    """Save ``state`` with ``torch.save`` atomically (temporary file, fsync, ``os.replace``).

    A failure midway leaves any existing file at ``path`` intact and no temporary file behind.
    With ``is_best`` the file is also copied (atomically) to ``best_name`` in the same folder.
    Call it on the main process only. Keep ``state`` to tensors and plain Python types so it loads
    with ``weights_only=True``. Returns the path written.
    """
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        torch.save(dict(state) if not isinstance(state, dict) else state, handle)
    if is_best:
        best = path.parent / best_name
        if best.resolve() != path.resolve():
            with atomic_open(best, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out)
    return path


def _one_line_reason(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:  # torch's weights_only message names the offending global on a later line
        if "Unsupported global" in line:
            return line
    for i, line in enumerate(lines):
        if "WeightsUnpickler error" in line:  # the detail is after the colon or on the next line
            detail = line.split("WeightsUnpickler error", 1)[1].strip(" :") or (
                lines[i + 1] if i + 1 < len(lines) else ""
            )
            return f"unreadable as a tensor checkpoint ({detail or 'unpickling failed'})"
    first = lines[0] if lines else ""
    if isinstance(exc, (EOFError, IndexError, KeyError, ValueError, UnicodeDecodeError)):
        return f"unreadable as a tensor checkpoint ({type(exc).__name__}{': ' + first if first else ''})"
    return first or type(exc).__name__


def load_checkpoint(
    path: str | os.PathLike[str],
    map_location: Any = "cpu",
    weights_only: bool = True,
    safe_globals: Iterable[Any] | None = None,
) -> Any:
    """Load a checkpoint with ``torch.load(weights_only=True)`` by default.

    ``safe_globals`` lists extra classes/functions to allow (e.g. ``argparse.Namespace`` stored in an
    original release), through ``torch.serialization.safe_globals``. A missing file or one that cannot
    be loaded raises :class:`CheckpointError` with a one-line message naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint is not a file: {path}")
    allow = list(safe_globals or [])
    ctx = torch.serialization.safe_globals(allow) if allow else contextlib.nullcontext()
    try:
        with ctx:
            return torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as exc:  # pickle, zip and torch errors all mean "not loadable"
        how = " with weights_only=True" if weights_only else ""
        raise CheckpointError(f"cannot load checkpoint {path}{how}: {_one_line_reason(exc)}") from exc


def strip_module_prefix(state_dict: Mapping[str, Any], prefix: str = "module.") -> OrderedDict[str, Any]:
    """Return a copy of ``state_dict`` with a leading ``prefix`` removed from every key that has it.

    Undoes the ``module.`` that DataParallel/DDP add. The ``_metadata`` attribute that
    ``load_state_dict`` uses for version upgrades is carried over with its keys stripped too.
    """
    out: OrderedDict[str, Any] = OrderedDict()
    for key, value in state_dict.items():
        out[key[len(prefix) :] if key.startswith(prefix) else key] = value
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        stem = prefix.rstrip(".")
        new_meta: OrderedDict[str, Any] = OrderedDict()
        for key, value in metadata.items():
            if key == stem:
                key = ""
            elif key.startswith(prefix):
                key = key[len(prefix) :]
            new_meta[key] = value
        out._metadata = new_meta  # type: ignore[attr-defined]
    return out


def _is_checkpoint_name(name: str) -> bool:
    return not name.startswith(".") and name.endswith(CHECKPOINT_SUFFIXES)


def find_resume(
    path_or_dir: str | os.PathLike[str] | None,
    missing_ok: bool = False,
    exclude: Iterable[str] = ("model_best.pth.tar",),
) -> Path | None:
    """Find the checkpoint to resume from.

    A file is returned as it is. For a folder the newest checkpoint file in it (by modification time,
    then name) is returned, skipping names in ``exclude`` (the best-model copy) unless nothing else is
    there; an empty folder gives ``None``. ``None``/``""`` gives ``None``. A path that does not exist
    raises :class:`CheckpointError` unless ``missing_ok``.
    """
    if path_or_dir is None or str(path_or_dir) == "":
        return None
    path = Path(path_or_dir)
    if path.is_file():
        return path
    if not path.exists():
        if missing_ok:
            return None
        raise CheckpointError(f"resume checkpoint not found: {path}")
    found = [p for p in path.iterdir() if p.is_file() and _is_checkpoint_name(p.name)]
    excluded = set(exclude)
    preferred = [p for p in found if p.name not in excluded] or found
    if not preferred:
        return None
    return max(preferred, key=lambda p: (p.stat().st_mtime_ns, p.name))
