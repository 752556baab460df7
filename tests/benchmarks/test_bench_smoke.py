"""Every bench script runs to the end at its smallest setting (a smoke run: no timing is asserted).

``make bench`` runs the same scripts at larger settings; a script broken by a change elsewhere (as bench_haq was
by the search-resume state reading ``env.evaluate.calls``) fails here instead of on a user's machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALLEST = {
    "bench_hawq.py": ["--batch", "2", "--image-size", "32", "--schemes", "uniform8", "--hessian-batch", "4",
                      "--probes", "1", "--repeats", "1", "--warmup", "0", "--before-rev", "HEAD",
                      "--qat-before-rev", "HEAD"],
    "bench_haq.py": ["--episodes", "1", "--train_size", "32", "--device", "cpu", "--which", "digits",
                     "--step_batch", "4", "--repeats", "1", "--warmup", "0"],
    "bench_hmq.py": ["--batches", "2", "--batch_size", "16", "--repeats", "1", "--warmup", "0"],
    "bench_proqha.py": ["--lam", "1", "--batch", "2", "--skip-imagenet", "--repeats", "1", "--warmup", "0"],
    "bench_ompq.py": ["--model", "resnet18", "--batch", "4", "--size", "32", "--repeats", "1", "--warmup", "0"],
    "bench_hessian_variance.py": ["--epochs", "0", "--probes", "2", "--batch-sizes", "4", "--image-size", "8"],
}  # fmt: skip
#: scripts that measure a spread, not a time (no wall-clock column)
UNTIMED = {"bench_hessian_variance.py"}
LAST_LINE = {
    "bench_hawq.py": "qat_over_float=",
    "bench_haq.py": "linear_step_over_float=",
    "bench_hmq.py": "final_over_float=",
    "bench_proqha.py": "quant_step_over_float=",
    "bench_ompq.py": "search_total_s=",
    "bench_hessian_variance.py": "ggn_sd_over_per_layer=",
}


def test_every_bench_script_has_a_smoke_setting() -> None:
    scripts = {p.name for p in (ROOT / "benchmarks").glob("bench_*.py")}
    assert scripts == set(SMALLEST)


@pytest.mark.parametrize("script", sorted(SMALLEST))
def test_bench_script_runs(script: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *SMALLEST[script]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert script in UNTIMED or "wall" in proc.stdout.lower()
    if script in LAST_LINE:
        lines = proc.stdout.strip().splitlines()
        assert any(line.startswith(LAST_LINE[script]) for line in lines[-2:]), proc.stdout[-500:]
    assert (
        not list(tmp_path.iterdir()) or script == "bench_haq.py"
    )  # nothing left behind in the working folder
