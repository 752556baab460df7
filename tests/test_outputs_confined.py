"""Entrypoints write only under the output folder they are given (issue 19 item 5), with the user's umask.

Each run starts in an empty working directory with a relative output folder; afterwards neither the
repository tree nor the working directory may hold a new or changed file outside that folder.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

from common.runtime.files import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".mypy_cache"}
# Source files are left out of the repository snapshot: other people may edit them while the suite runs,
# and no entrypoint writes Python or Markdown. Every other file (tables, checkpoints, logs, JSON) counts.
SOURCE_SUFFIXES = {".py", ".md"}


def _snapshot(root: Path, skip_sources: bool) -> dict[str, tuple[int, int]]:
    """``relative path -> (mtime_ns, size)`` of every file under ``root``."""
    seen: dict[str, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in files:
            path = Path(folder) / name
            if skip_sources and path.suffix in SOURCE_SUFFIXES:
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            seen[str(path.relative_to(root))] = (st.st_mtime_ns, st.st_size)
    return seen


def _changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    return sorted(p for p, v in after.items() if before.get(p) != v)


@pytest.fixture
def confined(tmp_path, monkeypatch):
    """Runs in an empty cwd; yields the relative output folder name and checks the two trees afterwards."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    repo_before = _snapshot(REPO, skip_sources=True)
    yield "out"
    repo_changed = _changed(repo_before, _snapshot(REPO, skip_sources=True))
    assert not repo_changed, f"written into the repository: {repo_changed[:5]}"
    outside = [p for p in _snapshot(cwd, skip_sources=False) if not p.startswith("out" + os.sep)]
    assert not outside, f"written outside the output folder: {outside[:5]}"
    assert (cwd / "out").is_dir(), "the run wrote nothing at all"


def test_haq_build_table_and_search_stay_in_the_output(confined) -> None:
    """``build_table`` writes ``<output>/lookup_tables/``, where the linear search with the same ``--output`` finds it."""
    from haq import rl_quantize
    from haq.lib.simulator import build_table

    table = build_table.main(["--arch", "qtiny_resnet", "--dataset", "digits", "--output", confined])
    assert table == Path(confined) / "lookup_tables" / "qtiny_resnet_digits_batch16_latency_table.npy"
    assert np.load(table).shape == (13, 8, 8)
    small = ["--dataset", "digits", "--pretrained", "none", "--train_episode", "1", "--warmup", "0",
             "--train_size", "32", "--val_size", "16", "--data_bsize", "16", "--n_worker", "0", "--bsize", "4",
             "--seed", "3", "--linear_quantization", "--min_bit", "2", "--float_bit", "8", "--preserve_ratio", "0.5"]  # fmt: skip
    res = rl_quantize.main(["--arch", "qtiny_resnet", "--output", confined, *small])
    assert res["costs"]["latency_table"] == str(table)


def test_haq_setup_script_writes_in_the_working_directory(confined) -> None:
    """The run scripts use paths relative to where they are started, not to the repository."""
    run_dir = Path.cwd() / confined  # the user's run folder
    run_dir.mkdir()
    subprocess.run(["bash", str(REPO / "haq" / "run" / "setup.sh")], check=True, cwd=run_dir)
    assert (Path(confined) / "save").is_dir() and (Path(confined) / "checkpoints").is_dir()


def test_proqha_train_stays_in_the_output(confined) -> None:
    from proqha.main import train

    argv = ["--dataset", "digits", "--arch", "resnet20", "--num_layers", "8", "--data_dir", "digits",
            "--train_fraction", "0.05", "--train_batch_size", "32", "--eval_batch_size", "400", "--workers", "0",
            "--archtype", "quant", "--k_bits", "8", "--ratio", "1.0", "--seed", "3", "--threads", "1",
            "--lr", "0.01", "--train_epochs", "1", "--out", confined]  # fmt: skip
    assert train.main(argv) == 0


def test_ompq_search_stays_in_the_output(confined) -> None:
    from ompq.mixed_bit import feature_extract

    feature_extract.main(["--model", "tiny_resnet", "--model_size", "0.2", "--quant_type", "QAT", "--abits", "6",
                          "--dataset", "digits", "--save_path", "digits", "--beta", "1", "--train_batch_size", "16",
                          "--out", confined])  # fmt: skip
    assert (Path(confined) / "bit_config.json").is_file()


def test_outputs_follow_the_umask(tmp_path) -> None:
    """Under umask 022 a written result is readable by the group and others (not mkstemp's 0600)."""
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "final.json", "{}")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH and not mode & stat.S_IWGRP


def test_snapshot_sees_new_and_changed_files_but_not_sources(tmp_path) -> None:
    """The check above can fail: a new table or a rewritten log shows, a source edit by someone else does not."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "log.txt").write_text("a")
    (tmp_path / "pkg" / "mod.py").write_text("x = 1")
    before = _snapshot(tmp_path, skip_sources=True)
    np.save(tmp_path / "pkg" / "table.npy", np.zeros(3))
    (tmp_path / "pkg" / "log.txt").write_text("ab")
    (tmp_path / "pkg" / "mod.py").write_text("x = 2")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "c.pyc").write_bytes(b"0")
    changed = _changed(before, _snapshot(tmp_path, skip_sources=True))
    assert changed == [os.path.join("pkg", "log.txt"), os.path.join("pkg", "table.npy")]
