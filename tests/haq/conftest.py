"""Golden data of the HAQ tests (tests/golden/haq, produced from the original code; see its README)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "haq"
TABLE = (
    Path(__file__).resolve().parents[2]
    / "haq/lib/simulator/lookup_tables/qmobilenetv2_imagenet100_batch16_latency_table.npy"
)


def _load(stem: str) -> tuple[dict, dict]:
    with np.load(GOLDEN / f"{stem}.npz") as z:
        arrays = {k: z[k].copy() for k in z.files}
    return arrays, json.loads((GOLDEN / f"{stem}.json").read_text())


@pytest.fixture(scope="session")
def env_golden() -> tuple[dict, dict]:
    return _load("env_golden")


@pytest.fixture(scope="session")
def quant_golden() -> tuple[dict, dict]:
    return _load("quant_golden")


@pytest.fixture(scope="session")
def ddpg_golden() -> tuple[dict, dict]:
    return _load("ddpg_golden")


@pytest.fixture(scope="session")
def latency_table() -> np.ndarray:
    return np.load(TABLE)
