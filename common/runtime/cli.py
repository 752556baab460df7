"""Command-line support for Contract 6: shared flags and one-line errors with exit status 2."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .errors import is_user_error
from .threads import add_threads_arg

__all__ = ["AMP_CHOICES", "add_common_args", "format_user_error", "run_main", "user_error_exit"]

AMP_CHOICES: tuple[str, ...] = ("none", "bf16", "fp16")
USAGE_EXIT_CODE = 2

F = TypeVar("F", bound=Callable[..., Any])


def format_user_error(exc: BaseException) -> str:
    """``error: <message>`` on a single line."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    return f"error: {message}"


def run_main(main_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``main_fn(*args, **kwargs)`` and return its result; turn bad input into exit status 2.

    An exception marked as a user error (``UsageError``, ``CheckpointError`` or any exception with
    ``user_error = True``) prints ``error: <message>`` as one line on stderr and exits with status 2
    instead of a traceback. Other exceptions propagate (they are bugs). Typical use::

        if __name__ == "__main__":
            run_main(main)
    """
    try:
        return main_fn(*args, **kwargs)
    except Exception as exc:
        if not is_user_error(exc):
            raise
        print(format_user_error(exc), file=sys.stderr, flush=True)
        raise SystemExit(USAGE_EXIT_CODE) from None


def user_error_exit(main_fn: F) -> F:
    """Decorator form of :func:`run_main`."""

    @functools.wraps(main_fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return run_main(main_fn, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _has_flag(parser: argparse.ArgumentParser, flag: str) -> bool:
    return flag in parser._option_string_actions


def add_common_args(
    parser: argparse.ArgumentParser,
    seed_default: int | None = 0,
    out_default: str | Path | None = None,
) -> argparse.ArgumentParser:
    """Add the shared new flags ``--device``, ``--seed``, ``--amp``, ``--out`` and ``--threads`` to ``parser``.

    A flag the original parser already defines (e.g. an original ``--seed``) is left as it is, so
    original defaults and meanings are kept. Returns ``parser``.
    """
    group = parser.add_argument_group("common runtime options")
    if not _has_flag(parser, "--device"):
        group.add_argument(
            "--device",
            default="auto",
            help="auto (CUDA device LOCAL_RANK if available, else CPU), cpu, cuda, cuda:N or mps",
        )
    if not _has_flag(parser, "--seed"):
        group.add_argument("--seed", type=int, default=seed_default, help="random seed (offset by the rank)")
    if not _has_flag(parser, "--amp"):
        group.add_argument(
            "--amp",
            choices=AMP_CHOICES,
            default="none",
            help="mixed precision with torch.amp autocast: none, bf16 or fp16 (fp16 uses a GradScaler on CUDA)",
        )
    if not _has_flag(parser, "--out"):
        group.add_argument(
            "--out",
            type=Path,
            default=out_default,
            help="output folder for args.json, epochs.csv, final.json, log.txt, tensorboard and checkpoints",
        )
    if not _has_flag(parser, "--threads"):
        add_threads_arg(group)
    return parser
