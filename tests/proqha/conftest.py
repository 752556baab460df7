"""Fixtures of the ProQHA tests: the golden folder and its files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "proqha"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return GOLDEN


@pytest.fixture(scope="session")
def quantizer_golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN / "quantizers.npz") as data:
        return {k: data[k].copy() for k in data.files}


@pytest.fixture(scope="session")
def cost_golden() -> dict:
    return json.loads((GOLDEN / "cost.json").read_text())


@pytest.fixture(scope="session")
def greedy_golden() -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(GOLDEN / "greedy_step_inputs.npz") as data:
        arrays = {k: data[k].copy() for k in data.files}
    return json.loads((GOLDEN / "greedy_step.json").read_text()), arrays
