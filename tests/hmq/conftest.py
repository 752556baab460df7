"""Shared fixtures of the HMQ tests: the golden vectors of tests/golden/hmq/."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "hmq"


def _load(name: str) -> dict[str, torch.Tensor]:
    with np.load(GOLDEN / f"{name}.npz") as data:
        return {k: torch.from_numpy(data[k].copy()) for k in data.files}


@pytest.fixture(scope="session")
def golden_meta() -> dict:
    return json.loads((GOLDEN / "golden_meta.json").read_text())


@pytest.fixture(scope="session")
def golden():
    """``golden(name)`` -> every array of ``tests/golden/hmq/<name>.npz`` as a tensor."""
    cache: dict[str, dict[str, torch.Tensor]] = {}

    def get(name: str) -> dict[str, torch.Tensor]:
        if name not in cache:
            cache[name] = _load(name)
        return cache[name]

    return get


@pytest.fixture(autouse=True)
def one_thread():
    """Run each HMQ test on one intra-op thread: on a shared 2-core machine OpenMP spinning with two
    threads makes the many small HMQ kernels up to 20x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
