"""Regenerate the flag tables in ``docs/<method>.md`` from the entrypoints' own argparse parsers.

``python docs/generate_flags.py`` rewrites every block between ``<!-- flags: MODULE -->`` and
``<!-- /flags -->``; ``--check`` only reports (exit 1) the files whose tables are out of date, which is what
``tests/test_docs_links.py`` runs, so a flag added to a parser cannot silently miss the docs.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

DOCS = Path(__file__).resolve().parent
BLOCK = re.compile(r"(<!-- flags: (?P<module>[\w.]+) -->\n)(?P<body>.*?)(<!-- /flags -->)", re.S)


def _builder(module: str) -> Callable[[], argparse.ArgumentParser]:
    """The parser of an entrypoint module: its ``build_parser()`` (ProQHA's shared one takes a program name)."""
    build = importlib.import_module(module).build_parser
    if module == "proqha.utils.options":
        return lambda: build("proqha")
    return build


def _cell(text: object) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _default(action: argparse.Action) -> str:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):  # noqa: SLF001
        return "off" if action.default is False else "on"
    if action.default is None or action.default is argparse.SUPPRESS:
        return "required" if action.required else "—"
    return f"`{_cell(action.default)}`"


def flag_table(parser: argparse.ArgumentParser) -> str:
    """Markdown table ``flag | default | meaning`` of every optional and positional argument."""
    rows = ["| flag | default | meaning |", "|---|---|---|"]
    for action in parser._actions:  # noqa: SLF001 - argparse has no public listing
        if isinstance(action, argparse._HelpAction):  # noqa: SLF001
            continue
        names = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.dest}` (positional)"
        meaning = _cell(action.help or "")
        if action.choices is not None:
            meaning = (
                (meaning + " " if meaning else "") + "Choices: " + ", ".join(map(_cell, action.choices)) + "."
            )
        rows.append(f"| {names} | {_default(action)} | {meaning} |")
    return "\n".join(rows) + "\n"


def render(text: str) -> str:
    """``text`` with every flag block regenerated."""

    def one(match: re.Match[str]) -> str:
        table = flag_table(_builder(match["module"])())
        return f"{match.group(1)}\n{table}\n{match.group(4)}"

    return BLOCK.sub(one, text)


def stale(paths: Sequence[Path]) -> list[Path]:
    """The docs whose flag tables differ from what the parsers give now."""
    return [p for p in paths if render(p.read_text()) != p.read_text()]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python docs/generate_flags.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="report out-of-date files, write nothing")
    args = p.parse_args(argv)
    sys.path.insert(0, str(DOCS.parent))
    paths = sorted(DOCS.glob("*.md"))
    if args.check:
        old = stale(paths)
        for path in old:
            print(f"{path.name}: flag tables out of date; run python docs/generate_flags.py")
        return 1 if old else 0
    for path in paths:
        new = render(path.read_text())
        if new != path.read_text():
            path.write_text(new)
            print(f"updated {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
