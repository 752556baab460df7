"""The one exception type of :mod:`common.data`."""

from __future__ import annotations

import os

__all__ = ["DataError"]


class DataError(ValueError):
    """A problem with the data given by the user, described in one line that names the path.

    Entrypoints print ``str(error)`` (or :meth:`one_line` when the error crossed a DataLoader
    worker, which prepends a traceback) on stderr and exit with status 2.
    """

    user_error = True

    def __init__(self, message: str) -> None:
        text = str(message)
        if not _is_worker_message(text):
            # Our own messages are one line by contract, whatever a path or a PIL error contains.
            text = text.replace("\r", " ").replace("\n", " ")
        super().__init__(text)

    def one_line(self) -> str:
        """The single-line message, also when a DataLoader worker re-raised it with a traceback."""
        text = str(self)
        if "\n" not in text:
            return text
        marker = f"{type(self).__name__}: "
        for line in reversed(text.splitlines()):
            if marker in line:
                return line.split(marker, 1)[1].strip()
        return " ".join(text.split())


def _is_worker_message(text: str) -> bool:
    """True for the message a DataLoader worker builds when it re-raises an exception."""
    return text.startswith("Caught ") and "Traceback (most recent call last)" in text


def show_path(path: str | os.PathLike[str]) -> str:
    """The form in which messages name a path: absolute, symlinks not resolved."""
    return os.path.abspath(os.fspath(path))
