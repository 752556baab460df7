"""The repository documents itself (issue 19 items 6-7): links resolve inside it, flag tables are current.

* every relative Markdown link in every ``*.md`` points to an existing file, and an ``#anchor`` into a
  Markdown file names one of its headings (GitHub's slug rule);
* no Markdown, Python or shell text cites the specifications or design page that live outside the
  repository (``shared/specs``, ``specs/<method>.md``, a bare ``DESIGN.md``): they are ``docs/`` now;
* the flag tables of ``docs/<method>.md`` equal what the entrypoints' parsers give.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "node_modules"}
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
OUTSIDE = re.compile(r"shared/specs|(?<![\w/.])specs/[\w<>]+\.md|(?<![\w/])DESIGN\.md")


def _files(*suffixes: str) -> list[Path]:
    found = []
    for path in REPO.rglob("*"):
        rel = path.relative_to(REPO).parts
        if any(p in SKIP_DIRS or p.endswith(".egg-info") for p in rel[:-1]):
            continue
        if path.suffix in suffixes and path.is_file():
            found.append(path)
    return sorted(found)


def github_slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (except - and _), spaces to -."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(md: Path) -> set[str]:
    text = CODE_FENCE.sub("", md.read_text(encoding="utf-8"))
    return {github_slug(m) for m in re.findall(r"^#{1,6}\s+(.*)$", text, re.M)}


def test_github_slug_rule() -> None:
    assert github_slug("Known quirks of the original and what this version does (§8)") == (
        "known-quirks-of-the-original-and-what-this-version-does-8"
    )
    assert github_slug("Fixes behind flags / defaults changed") == "fixes-behind-flags--defaults-changed"


def broken_links(md: Path) -> list[str]:
    """The relative links of ``md`` whose file (or heading anchor) does not exist."""
    bad = []
    text = CODE_FENCE.sub("", md.read_text(encoding="utf-8"))
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (md.parent / file_part).resolve() if file_part else md
        if file_part and (not dest.exists() or (REPO not in dest.parents and dest != REPO)):
            bad.append(target)
        elif anchor and dest.suffix == ".md" and anchor.lower() not in anchors(dest):
            bad.append(target)
    return bad


def test_broken_link_detection(tmp_path) -> None:
    md = REPO / "docs" / "README.md"
    assert broken_links(md) == []
    probe = tmp_path / "probe.md"
    probe.write_text("# Title\n[ok](#title) [gone](missing.md) [web](https://example.org) [bad](#nothing)\n")
    assert broken_links(probe) == ["missing.md", "#nothing"]


@pytest.mark.parametrize("md", _files(".md"), ids=lambda p: str(p.relative_to(REPO)))
def test_markdown_links_resolve(md: Path) -> None:
    assert broken_links(md) == [], f"{md.relative_to(REPO)}: broken links"


def test_no_reference_outside_the_repository() -> None:
    me = Path(__file__).resolve()
    hits = []
    for path in _files(".md", ".py", ".sh"):
        if path == me:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(REPO)}:{n}: {line.strip()[:100]}")
    assert not hits, "references to files outside the repository (use docs/...):\n" + "\n".join(hits[:20])


def test_outside_pattern() -> None:
    for text in ("see shared/specs/hawq.md", "specs/ompq.md 6.1", "contract 1 of DESIGN.md"):
        assert OUTSIDE.search(text), text
    for text in ("see docs/hawq.md 6.1", "docs/design.md", "the specs' tables"):
        assert not OUTSIDE.search(text), text


def test_method_pages_exist_and_flag_tables_are_current() -> None:
    for name in ("design", "hawq", "haq", "hmq", "ompq", "proqha"):
        assert (REPO / "docs" / f"{name}.md").is_file(), name
    res = subprocess.run(
        [sys.executable, str(REPO / "docs" / "generate_flags.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
