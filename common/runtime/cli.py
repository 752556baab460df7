"""Command-line support for Contract 6: shared flags and one-line errors with exit status 2."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from .errors import UsageError, is_user_error
from .threads import add_threads_arg

__all__ = [
    "AMP_CHOICES",
    "add_common_args",
    "format_user_error",
    "run_main",
    "set_resume_hint",
    "user_error_exit",
]

AMP_CHOICES: tuple[str, ...] = ("none", "bf16", "fp16")
USAGE_EXIT_CODE = 2
INTERRUPT_EXIT_CODE = 130

F = TypeVar("F", bound=Callable[..., Any])


def format_user_error(exc: BaseException) -> str:
    """``error: <message>`` on a single line (a DataLoader worker's re-raised traceback reduced to its message)."""
    one_line = getattr(exc, "one_line", None)
    text = one_line() if callable(one_line) else str(exc)
    message = " ".join(str(text).split()) or type(exc).__name__
    return f"error: {message}"


# What run_main says on Ctrl-C: (how to resume, the checkpoint that must exist for it to apply).
_resume_hint: tuple[str, Path | None] | None = None

#: How long a rank other than 0 waits before it reports a user error itself (rank 0 normally reports it
#: first and torchrun then stops the others, so the user sees the message once; generous, because rank 0's
#: interpreter shutdown can take seconds on a loaded machine).
PEER_REPORT_DELAY_S = 10.0


def set_resume_hint(
    how: str | None, checkpoint: str | os.PathLike[str] | None = None, *, replace: bool = False
) -> None:
    """Tell :func:`run_main` how an interrupted run continues.

    On Ctrl-C it then prints ``interrupted; resume with <how>`` (e.g. ``how="--resume OUT/checkpoint.pth.tar"``
    or ``"the same command (it continues from OUT/resume.pt)"``), provided the file ``checkpoint`` exists at
    that moment when one is given; otherwise just ``interrupted``. The first hint of a run wins, so an
    entrypoint that calls another one's ``main`` keeps its own hint; ``replace=True`` overrides that and
    ``None`` clears the hint.
    """
    global _resume_hint
    if how is None:
        _resume_hint = None
    elif _resume_hint is None or replace:
        _resume_hint = (how, None if checkpoint is None else Path(checkpoint))


def _interrupt_message() -> str:
    if _resume_hint is None:
        return "interrupted"
    how, checkpoint = _resume_hint
    if checkpoint is not None and not checkpoint.is_file():
        return "interrupted (no checkpoint written yet; rerun to start again)"
    return f"interrupted; resume with {how}"


def _rank() -> int:
    """This process's rank under torchrun (0 otherwise), from the process group or the environment."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return int(dist.get_rank())
    except Exception:  # pragma: no cover - a broken torch.distributed must not hide the real error
        pass
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def _parser_error(self: argparse.ArgumentParser, message: str) -> NoReturn:
    raise UsageError(f"{self.prog}: {message} (see --help)")


@contextlib.contextmanager
def _one_line_argparse() -> Iterator[None]:
    """While an entrypoint runs, argparse errors become :class:`UsageError` (one line, not usage + error)."""
    saved = argparse.ArgumentParser.error
    argparse.ArgumentParser.error = _parser_error  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        argparse.ArgumentParser.error = saved  # type: ignore[method-assign]


def run_main(main_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``main_fn(*args, **kwargs)`` and return its result; turn bad input into exit status 2.

    * An exception marked as a user error (``UsageError``, ``CheckpointError``, ``NonFiniteLossError``,
      ``DataError`` or any exception with ``user_error = True``), or an argparse error, prints
      ``error: <message>`` as one line on stderr and exits with status 2 instead of a traceback.
    * Ctrl-C (``KeyboardInterrupt``) prints ``interrupted`` (with the hint registered by
      :func:`set_resume_hint`, when its checkpoint exists) and exits with status 130; checkpoints are
      written atomically, so the last one is intact.
    * Under torchrun only rank 0 prints; another rank waits :data:`PEER_REPORT_DELAY_S` (torchrun normally
      stops it once rank 0 has exited) and then reports the error itself, for errors only it met.

    Other exceptions propagate (they are bugs). Typical use::

        if __name__ == "__main__":
            run_main(main)
    """
    set_resume_hint(None)
    try:
        with _one_line_argparse():
            return main_fn(*args, **kwargs)
    except KeyboardInterrupt:
        if _rank() == 0:
            print(_interrupt_message(), file=sys.stderr, flush=True)
        _exit_if_distributed(INTERRUPT_EXIT_CODE)
        raise SystemExit(INTERRUPT_EXIT_CODE) from None
    except Exception as exc:
        if not is_user_error(exc):
            raise
        rank = _rank()
        if rank == 0:
            print(format_user_error(exc), file=sys.stderr, flush=True)
        else:
            time.sleep(PEER_REPORT_DELAY_S)
            print(f"[rank {rank}] {format_user_error(exc)}", file=sys.stderr, flush=True)
        _exit_if_distributed(USAGE_EXIT_CODE)
        raise SystemExit(USAGE_EXIT_CODE) from None


def _exit_if_distributed(code: int) -> None:
    """Under a live process group, end the process at once with ``code``.

    Interpreter shutdown with the gloo group still open sometimes aborts (SIGABRT, "terminate called without
    an active exception") instead of returning ``code``; destroying the group could wait on a peer stuck in a
    collective. Checkpoints are written atomically, so skipping the shutdown loses nothing: logs and the
    standard streams are flushed first.
    """
    from .distributed import is_dist_initialized

    if not is_dist_initialized():
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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
