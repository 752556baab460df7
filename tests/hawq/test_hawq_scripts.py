"""The run scripts of hawq/scripts: syntax, and the exact model-zoo command each one runs (PYTHON=echo)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "hawq" / "scripts"
# model_zoo.md guidance (docs/hawq.md §2.1): data percentage and epochs per scheme
ZOO = {
    "uniform8": ("0.0001", "1"),
    "modelsize_0.75": ("0.01", None),
    "bops_0.75": ("0.1", None),
    "latency_0.75": ("0.1", None),
    "modelsize_0.5": ("1", None),
    "bops_0.5": ("1", None),
    "latency_0.5": ("1", None),
    "uniform4": ("1", "90"),
}


@pytest.mark.parametrize("script", sorted(SCRIPTS.glob("*.sh")), ids=lambda p: p.name)
def test_scripts_parse(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)


def _zoo_command(script: Path, data: Path, out: Path) -> list[str]:
    env = dict(os.environ, PYTHON="echo")
    proc = subprocess.run(["bash", str(script), str(data), str(out)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
@pytest.mark.parametrize("scheme", ["uniform8", "uniform4", "modelsize_0.75", "modelsize_0.5", "modelsize_0.25",
                                    "bops_0.75", "bops_0.5", "bops_0.25", "latency_0.75", "latency_0.5",
                                    "latency_0.25"])  # fmt: skip
def test_model_zoo_script_runs_the_template(tmp_path: Path, arch: str, scheme: str) -> None:
    words = _zoo_command(SCRIPTS / f"{arch}_{scheme}.sh", tmp_path, tmp_path / "run")
    assert words[:2] == ["-m", "hawq.quant_train"]
    line = " ".join(words)
    for flag in (f"-a {arch}", f"--quant-scheme {scheme}", "--lr 0.0001", "--batch-size 128", "--pretrained",
                 "--act-range-momentum=0.99", "--wd 1e-4", "--fix-BN", "--checkpoint-iter -1",
                 f"--data {tmp_path}", f"--save-path {tmp_path / 'run'}/"):  # fmt: skip
        assert flag in line, (flag, line)
    assert "--channel-wise" not in line  # store_false: passing it would turn per-channel off
    percent, epochs = ZOO.get(scheme, ("1", "90"))
    assert words[words.index("--data-percentage") + 1] == percent
    if epochs is not None:
        assert words[words.index("--epochs") + 1] == epochs


def test_missing_data_is_a_usage_error() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATA", "OUT")}
    proc = subprocess.run(
        ["bash", str(SCRIPTS / "resnet18_bops_0.5.sh")], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2 and "DATA" in proc.stderr
