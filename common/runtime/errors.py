"""Error types shared by the runtime helpers and the entrypoints.

Any exception with a true ``user_error`` attribute is treated by :func:`common.runtime.run_main` as bad
input: one line on stderr and exit status 2 (Contract 6). Other packages may mark their own exceptions
the same way without importing this module.
"""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input from the user (a flag, a path, a file's content): reported in one line, exit status 2."""

    user_error = True


class CheckpointError(UsageError):
    """A checkpoint file is missing or cannot be loaded (e.g. not loadable with ``weights_only=True``)."""


class NonFiniteLossError(UsageError):
    """A training or search loop met a NaN or infinite loss (most often a learning rate that is too large).

    Raised by :class:`common.runtime.LossGuard` before the step's weights can reach a checkpoint; reported like
    any other bad input (one line, exit status 2) with the epoch, the step and the last good checkpoint.
    """


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` should be reported as bad input rather than as a crash."""
    return bool(getattr(exc, "user_error", False))
