"""Argument checks shared by every entrypoint (Contract 6: one line naming the problem, exit status 2).

Each helper raises :class:`UsageError` (or :class:`CheckpointError` for checkpoint files) with a message
that starts with the flag and the value it is about, and returns the checked value, so an entrypoint
validates everything before it creates an output folder:

* numbers: :func:`check_number`, :func:`check_positive`, :func:`check_at_least`, :func:`check_fraction`, :func:`check_range`
  (NaN and infinities are rejected everywhere);
* paths: :func:`check_input_file`, :func:`check_output_dir`, :func:`check_output_file` (an output that
  exists as the wrong kind of thing, or whose folder cannot be created, is refused before anything is
  written, and nothing is created by the check);
* files' content: :func:`read_json_file` (malformed JSON named with line and column);
* checkpoints: :func:`is_state_dict`, :func:`require_checkpoint` (a full training checkpoint where a bare
  state dict was given), :func:`state_dict_from` (a state dict, bare or inside a checkpoint) and
  :func:`check_state_dict_fits` (another architecture's tensors: the first mismatching key and both shapes),
  :func:`load_state_dict_checked` (that check, then a load whose failure is one line).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from .errors import CheckpointError, UsageError

__all__ = [
    "check_at_least",
    "check_fraction",
    "check_input_file",
    "check_number",
    "check_output_dir",
    "check_output_file",
    "check_positive",
    "check_range",
    "check_state_dict_fits",
    "is_state_dict",
    "load_state_dict_checked",
    "read_json_file",
    "require_checkpoint",
    "state_dict_from",
]

N = TypeVar("N", int, float)


# --------------------------------------------------------------------------------------------------------
# numbers


def _finite(flag: str, value: N) -> N:
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{flag} must be a finite number, got {value}")
    return value


def check_number(flag: str, value: N) -> N:
    """A finite number (no NaN, no infinity); returns ``value``."""
    return _finite(flag, value)


def check_positive(flag: str, value: N) -> N:
    """``value > 0`` (learning rates, budgets, sizes); returns ``value``."""
    _finite(flag, value)
    if not value > 0:
        raise UsageError(f"{flag} must be > 0, got {value}")
    return value


def check_at_least(flag: str, value: N, minimum: int | float) -> N:
    """``value >= minimum`` (epochs >= 0 or 1, batch size >= 1, workers >= 0); returns ``value``."""
    _finite(flag, value)
    if not value >= minimum:
        raise UsageError(f"{flag} must be >= {minimum}, got {value}")
    return value


def check_fraction(flag: str, value: float) -> float:
    """``0 < value <= 1`` (data fractions, budget ratios); returns ``value``."""
    _finite(flag, value)
    if not 0 < value <= 1:
        raise UsageError(f"{flag} must be in (0, 1], got {value}")
    return value


def check_range(flag: str, value: N, low: int | float, high: int | float) -> N:
    """``low <= value <= high``; returns ``value``."""
    _finite(flag, value)
    if not low <= value <= high:
        raise UsageError(f"{flag} must be in [{low}, {high}], got {value}")
    return value


# --------------------------------------------------------------------------------------------------------
# paths


def check_input_file(flag: str, path: str | os.PathLike[str]) -> Path:
    """An existing, readable file; returns it as a :class:`Path`."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{flag} {p}: no such file")
    if not p.is_file():
        raise UsageError(f"{flag} {p}: not a file")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{flag} {p}: not readable")
    return p


def _creatable(flag: str, target: Path, kind: str) -> None:
    """``target`` does not exist: can its missing folders be created? Creates nothing."""
    probe = target.absolute()
    for ancestor in probe.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise UsageError(f"{flag} {target}: cannot create the {kind}, {ancestor} is a file")
            if not os.access(ancestor, os.W_OK | os.X_OK):
                raise UsageError(f"{flag} {target}: cannot create the {kind}, {ancestor} is not writable")
            return
    raise UsageError(f"{flag} {target}: cannot create the {kind}")  # pragma: no cover - "/" always exists


def check_output_dir(flag: str, path: str | os.PathLike[str]) -> Path:
    """A folder that exists and is writable, or that can be created; returns it as a :class:`Path`.

    An existing file at ``path`` or on the way to it is refused; nothing is created here (an entrypoint
    creates the folder once every check has passed).
    """
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise UsageError(f"{flag} {p}: exists and is not a folder")
        if not os.access(p, os.W_OK | os.X_OK):
            raise UsageError(f"{flag} {p}: the folder is not writable")
        return p
    _creatable(flag, p, "folder")
    return p


def check_output_file(flag: str, path: str | os.PathLike[str]) -> Path:
    """A file that can be (over)written: not a folder, its folder existing or creatable; returns it."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{flag} {p}: is a folder, expected a file name")
    if p.exists():
        if not os.access(p, os.W_OK):
            raise UsageError(f"{flag} {p}: the file is not writable")
        return p
    parent = p.parent
    if parent.exists():
        if not parent.is_dir():
            raise UsageError(f"{flag} {p}: cannot create the file, {parent} is a file")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UsageError(f"{flag} {p}: cannot create the file, {parent} is not writable")
        return p
    _creatable(flag, parent, "folder")
    return p


# --------------------------------------------------------------------------------------------------------
# file contents


def read_json_file(flag: str, path: str | os.PathLike[str]) -> Any:
    """Parse the JSON file at ``path``; a missing, unreadable or malformed file is a one-line :class:`UsageError`."""
    p = check_input_file(flag, path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{flag} {p}: not a UTF-8 text file (expected JSON)") from None
    except OSError as exc:
        raise UsageError(f"{flag} {p}: cannot read it ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{flag} {p}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None


# --------------------------------------------------------------------------------------------------------
# checkpoints


def is_state_dict(obj: Any) -> bool:
    """True for a bare state dict: a non-empty mapping of names to tensors (what ``model.state_dict()`` gives)."""
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def require_checkpoint(
    obj: Any, path: str | os.PathLike[str], keys: Sequence[str], flag: str = "--resume"
) -> Mapping[str, Any]:
    """``obj`` (loaded from ``path``) as a full training checkpoint holding every key in ``keys``.

    A bare state dict is named as such (it holds weights only, nothing to resume the run from); any
    other shape names the first missing key. Returns ``obj``.
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{flag} {path}: not a checkpoint (it holds a {type(obj).__name__})")
    missing = [k for k in keys if k not in obj]
    if not missing:
        return obj
    if is_state_dict(obj):
        raise CheckpointError(
            f"{flag} {path} is a bare state dict (weights only); resuming needs a full checkpoint "
            f"with {', '.join(repr(k) for k in keys)} as this entrypoint writes"
        )
    raise CheckpointError(
        f"{flag} {path}: not a checkpoint of this entrypoint (no {missing[0]!r} entry; it has "
        f"{', '.join(repr(str(k)) for k in list(obj)[:6])}{', ...' if len(obj) > 6 else ''})"
    )


def state_dict_from(
    obj: Any,
    path: str | os.PathLike[str],
    flag: str = "--resume",
    keys: Iterable[str] = ("state_dict", "model", "net", "weights"),
) -> Mapping[str, torch.Tensor]:
    """The state dict in ``obj``: ``obj`` itself when bare, else the first of ``keys`` that holds one."""
    if is_state_dict(obj):
        return obj
    if isinstance(obj, Mapping):
        for key in keys:
            if is_state_dict(obj.get(key)):
                return obj[key]
        names = ", ".join(repr(str(k)) for k in list(obj)[:6])
        raise CheckpointError(f"{flag} {path}: no state dict in it (keys {names or 'none'})")
    raise CheckpointError(f"{flag} {path}: not a state dict or checkpoint (it holds a {type(obj).__name__})")


def check_state_dict_fits(
    model: nn.Module | Mapping[str, torch.Tensor],
    state: Mapping[str, Any],
    source: str,
    strip: str = "module.",
) -> None:
    """Refuse ``state`` when it belongs to another architecture than ``model`` (a module or its state dict).

    No shared key, or a shared key whose shape differs, raises :class:`CheckpointError` naming
    ``source`` (e.g. ``"--resume FILE"``), the first mismatching key (in the model's order) and both
    shapes. Keys with the ``strip`` prefix (DDP's ``module.``) are compared without it; missing or extra
    keys alone are left to the caller (several originals load non-strictly on purpose).
    """
    own = model.state_dict() if isinstance(model, nn.Module) else model
    theirs = {(k[len(strip) :] if strip and k.startswith(strip) else k): v for k, v in state.items()}
    shared = [k for k in own if k in theirs]
    if not shared:
        raise CheckpointError(
            f"{source} does not fit the model: none of its {len(theirs)} tensors belong to it "
            "(a checkpoint of another architecture?)"
        )
    for key in shared:
        mine, other = own[key], theirs[key]
        if isinstance(mine, torch.Tensor) and isinstance(other, torch.Tensor) and mine.shape != other.shape:
            raise CheckpointError(
                f"{source} does not fit the model: {key} has shape {tuple(other.shape)} in the checkpoint but "
                f"{tuple(mine.shape)} in the model (a checkpoint of another architecture?)"
            )


def load_state_dict_checked(
    model: nn.Module, state: Mapping[str, Any], source: str, strict: bool = True
) -> tuple[list[str], list[str]]:
    """:func:`check_state_dict_fits`, then ``model.load_state_dict(state, strict)``; returns (missing, unexpected).

    A strict load that still fails (keys missing or left over) raises :class:`CheckpointError` naming
    ``source`` and the first such key instead of PyTorch's multi-line report.
    """
    check_state_dict_fits(model, state, source)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if strict and (missing or unexpected):
        what = f"lacks {missing[0]}" if missing else f"has the unknown tensor {unexpected[0]}"
        raise CheckpointError(
            f"{source} does not fit the model: it {what} ({len(missing)} missing, {len(unexpected)} unexpected)"
        )
    result = model.load_state_dict(state, strict=strict)
    return list(result.missing_keys), list(result.unexpected_keys)
