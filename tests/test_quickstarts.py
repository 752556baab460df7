"""Each subproject README's quick start, run as written there, ends far above chance (10 % on digits).

The command is read from the README itself (the first ```bash block under its "## Quick start" heading), so the
README and this test cannot drift apart. The block's ``# test setting:`` comment names the smaller sizes this
test runs it at (environment variables of the script, documented in the same block); the output folder becomes a
temporary one, and every script reads the float baseline trained once per module here (``BASELINE``), through
``python -m reproduce.baseline_digits --reuse`` exactly as a user's second quick start does.

Cost: the 3-epoch baseline and the five quick starts at their test settings took 234 s wall on the idle 2-core
AMD EPYC (2026-12-05, one thread each: baseline 20 s, HAWQ-V3 64 s, HAQ 26 s, HMQ 43 s, OMPQ 50 s, ProQHA 27 s),
so the quick-start runs are marked ``slow``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("hawq", "haq", "hmq", "ompq", "proqha")
#: Far above chance (10 % on ten classes); every quick start also checks its own MIN_ACC (default 50).
FLOOR = 50.0
BASE_EPOCHS = "3"


def quickstart_block(readme: Path) -> list[str]:
    """Lines of the first ```bash fence after the ``## Quick start`` heading of ``readme``."""
    text = readme.read_text()
    head = re.search(r"^## Quick start.*$", text, flags=re.M)
    assert head, f"{readme}: no '## Quick start' section"
    fence = re.search(r"```bash\n(.*?)```", text[head.end() :], flags=re.S)
    assert fence, f"{readme}: no ```bash block in the quick start"
    return fence.group(1).splitlines()


def parse_block(lines: list[str]) -> tuple[list[str], dict[str, str]]:
    """The one command of the block (``bash <script> <out>``) and its ``# test setting:`` variables."""
    commands = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert len(commands) == 1, f"one command expected in the quick start, got {commands}"
    setting: dict[str, str] = {}
    for line in lines:
        found = re.match(r"\s*#\s*test setting[^:]*:\s*(.*)$", line)
        if found:
            setting.update(item.split("=", 1) for item in shlex.split(found.group(1)))
    return shlex.split(commands[0].split("#", 1)[0]), setting


def test_parse_block_reads_command_and_setting() -> None:
    cmd, setting = parse_block(
        ["bash x/scripts/a.sh runs/a   # comment", "# test setting (tests/test_quickstarts.py): A=1 B=two"]
    )
    assert cmd == ["bash", "x/scripts/a.sh", "runs/a"]
    assert setting == {"A": "1", "B": "two"}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared digits float baseline, trained once for all quick starts of this module."""
    out = tmp_path_factory.mktemp("baseline") / "tiny_resnet"
    argv = [
        "--arch",
        "tiny_resnet",
        "--epochs",
        BASE_EPOCHS,
        "--device",
        "cpu",
        "--seed",
        "0",
        "--out",
        str(out),
    ]
    subprocess.run([sys.executable, "-m", "reproduce.baseline_digits", *argv], cwd=ROOT, check=True)
    assert (out / "weights.pth").is_file()
    return out  # every quick start reads it through --reuse (checked in its output)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_readme_quickstart_beats_chance(method: str, baseline: Path, tmp_path: Path) -> None:
    cmd, setting = parse_block(quickstart_block(ROOT / method / "README.md"))
    assert cmd[0] == "bash" and len(cmd) == 3, cmd
    assert (ROOT / cmd[1]).is_file(), cmd[1]
    assert setting, f"{method}/README.md: the quick start names no '# test setting:'"
    env = {k: v for k, v in os.environ.items() if k not in ("OUT", "MIN_ACC")}
    env.update(setting, PYTHON=sys.executable, BASELINE=str(baseline), BASE_EPOCHS=BASE_EPOCHS)
    env.setdefault("OMP_NUM_THREADS", "1")
    done = subprocess.run(
        ["bash", cmd[1], str(tmp_path / "out")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, tail
    assert "reusing the float baseline" in done.stdout, tail  # started from the trained float model
    found = re.findall(r"quick start OK: top-1 ([0-9.]+) %", done.stdout)
    assert found, tail
    assert float(found[-1]) >= FLOOR, tail


@pytest.mark.parametrize("method", METHODS)
def test_top_readme_names_the_same_quickstart(method: str) -> None:
    """The table of the top README runs the script of the subproject README's quick start."""
    cmd, _ = parse_block(quickstart_block(ROOT / method / "README.md"))
    assert f"`bash {cmd[1]} " in (ROOT / "README.md").read_text(), cmd[1]


def test_reuse_needs_the_same_settings_and_the_weights(tmp_path: Path) -> None:
    """``--reuse`` returns a cached run only when every weight-changing setting agrees and weights.pth exists."""
    import json

    from reproduce.baseline_digits import WEIGHTS_NAME, build_parser, cached_result

    args = build_parser().parse_args(["--out", str(tmp_path), "--epochs", "4", "--reuse"])
    (tmp_path / "args.json").write_text(json.dumps({**vars(args), "out": str(tmp_path)}))
    (tmp_path / "final.json").write_text(json.dumps({"val_acc1": 97.0, "epochs": 4}))
    assert cached_result(args) is None  # no weights.pth yet: an unfinished run
    (tmp_path / WEIGHTS_NAME).write_bytes(b"")
    assert cached_result(args) == {"val_acc1": 97.0, "epochs": 4}
    assert cached_result(build_parser().parse_args(["--out", str(tmp_path), "--epochs", "5"])) is None
    assert (
        cached_result(build_parser().parse_args(["--out", str(tmp_path), "--epochs", "4", "--seed", "1"]))
        is None
    )
