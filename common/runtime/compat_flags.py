"""Flags kept only so that the original command lines parse (issue 18 item 4).

An original flag that has no effect here (because the original never read it either, or because
this reimplementation takes the setting from elsewhere, e.g. ``--device`` or the torchrun
environment) is still accepted, but setting it to anything other than its default prints one
warning line on stderr, so it is never silently ignored.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

__all__ = ["warn_unused_flags"]


def _flag_name(parser: argparse.ArgumentParser, dest: str) -> str:
    for action in parser._actions:
        if action.dest == dest and action.option_strings:
            return max(action.option_strings, key=len)
    return f"--{dest}"


def warn_unused_flags(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    dests: Iterable[str],
    reason: str = "it has no effect in this reimplementation",
) -> list[str]:
    """Print ``warning: --flag VALUE is accepted for the original command line only; <reason>``
    for every ``dest`` whose value in ``args`` differs from ``parser``'s default; returns the flags
    warned about (in ``dests`` order)."""
    warned = []
    for dest in dests:
        if dest not in vars(args):
            raise KeyError(f"{dest!r} is not a flag of {parser.prog}")
        value = getattr(args, dest)
        if value != parser.get_default(dest):
            flag = _flag_name(parser, dest)
            print(
                f"warning: {flag} {value} is accepted for the original command line only; {reason}",
                file=sys.stderr,
                flush=True,
            )
            warned.append(flag)
    return warned
