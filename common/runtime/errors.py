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


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` should be reported as bad input rather than as a crash."""
    return bool(getattr(exc, "user_error", False))
