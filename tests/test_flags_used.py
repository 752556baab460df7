"""Issue 18 item 4: no entrypoint flag is parsed and then ignored.

For every entrypoint's argparse parser, each flag's ``dest`` must be read somewhere in the entrypoint's
package or in ``common/`` (``args.<dest>``, ``getattr(args, "<dest>"...)``, ``args["<dest>"]``,
``vars(args)`` lookups, ``"<dest>"`` keys). Flags kept only for compatibility with the original command
lines are listed in ``COMPAT`` and each is checked to warn or fail when set.
"""

from __future__ import annotations

import argparse
import importlib
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: module -> (parser factory, the source folders searched for a use of each dest)
ENTRYPOINTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "hawq.quant_train": ("build_parser", ("hawq",)),
    "hawq.hessian": ("build_parser", ("hawq",)),
    "hawq.search": ("build_parser", ("hawq",)),
    "haq.rl_quantize": ("build_parser", ("haq",)),
    "haq.finetune": ("build_parser", ("haq",)),
    "haq.pretrain": ("build_parser", ("haq",)),
    "hmq.main": ("build_parser", ("hmq",)),
    "ompq.mixed_bit.feature_extract": ("build_parser", ("ompq",)),
    "ompq.QAT.quant_train": ("build_parser", ("ompq", "hawq")),
    "ompq.PTQ.main_imagenet": ("build_parser", ("ompq",)),
    "reproduce.baseline_digits": ("build_parser", ("reproduce",)),
}
PROQHA = {"proqha.main.train": "train", "proqha.main.search": "search"}

#: (module, dest) accepted for the original command lines only; each must warn or fail when set
COMPAT: dict[tuple[str, str], list[str]] = {}

#: Still parsed and ignored at the time of writing (issue 18 item 4, open): each must be made to work or
#: to warn/fail and then moved out of here. ``test_pending_are_still_unread`` fails once one is read, so
#: the list cannot go stale.
PENDING: set[tuple[str, str]] = {
    ("hawq.quant_train", "dist_url"),
    ("haq.rl_quantize", "max_episode_length"),
    ("haq.rl_quantize", "init_w"),
    ("haq.rl_quantize", "epsilon"),
    ("hmq.main", "tag"),
    ("hmq.main", "local_rank"),
    ("ompq.mixed_bit.feature_extract", "gpu"),
    ("ompq.mixed_bit.feature_extract", "local_rank"),
    ("ompq.QAT.quant_train", "dist_url"),
    ("ompq.PTQ.main_imagenet", "use_bias"),
    ("ompq.PTQ.main_imagenet", "vcorr"),
    ("ompq.PTQ.main_imagenet", "bcorr"),
    ("proqha.main.train", "gpus"),
    ("proqha.main.train", "cutout"),
    ("proqha.main.train", "eval_freq"),
    ("proqha.main.search", "gpus"),
    ("proqha.main.search", "cutout"),
    ("proqha.main.search", "eval_freq"),
}

_HELP = {"help", "version"}


def _parser(module: str) -> argparse.ArgumentParser:
    if module in PROQHA:
        from proqha.utils.options import build_parser

        return build_parser(PROQHA[module])
    mod = importlib.import_module(module)
    return getattr(mod, ENTRYPOINTS[module][0])()


@cache
def _sources(folders: tuple[str, ...]) -> str:
    texts = []
    for folder in (*folders, "common"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            texts.append(path.read_text(encoding="utf-8"))
    return "\n".join(texts)


def _is_read(dest: str, text: str) -> bool:
    d = re.escape(dest)
    patterns = (rf"\.{d}\b", rf"""["']{d}["']""")
    return any(re.search(p, text) for p in patterns)


def _cases() -> list[tuple[str, tuple[str, ...]]]:
    cases = [(m, folders) for m, (_, folders) in ENTRYPOINTS.items()]
    cases += [(m, ("proqha",)) for m in PROQHA]
    return cases


@pytest.mark.parametrize(("module", "folders"), _cases(), ids=[m for m, _ in _cases()])
def test_every_flag_is_read(module: str, folders: tuple[str, ...]) -> None:
    parser = _parser(module)
    text = _sources(folders)
    unread = [
        "/".join(action.option_strings) or action.dest
        for action in parser._actions
        if action.dest not in _HELP
        and (module, action.dest) not in COMPAT
        and (module, action.dest) not in PENDING
        and not _is_read(action.dest, text)
    ]
    assert not unread, f"{module}: flags parsed but never read: {unread}"


def test_is_read_detects_an_unread_dest() -> None:
    text = "x = args.lr\ny = getattr(args, 'momentum', 0)\n"
    assert _is_read("lr", text) and _is_read("momentum", text)
    assert not _is_read("print_freq", text)


def test_pending_are_still_unread() -> None:
    folders = {m: f for m, f in _cases()}
    now_read = [(m, d) for m, d in sorted(PENDING) if _is_read(d, _sources(folders[m]))]
    assert not now_read, f"now read somewhere: move out of PENDING: {now_read}"
    for module, dest in PENDING:
        assert any(a.dest == dest for a in _parser(module)._actions), (module, dest)


@pytest.mark.parametrize(
    ("module", "dest"),
    [("hmq.main", "log_dir"), ("proqha.main.train", "print_freq"), ("haq.finetune", "half_type")],
)
def test_issue_18_flags_are_read(module: str, dest: str) -> None:
    folders = dict(_cases())[module]
    assert (module, dest) not in PENDING | set(COMPAT)
    assert _is_read(dest, _sources(folders))
