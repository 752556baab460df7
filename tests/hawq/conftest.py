"""Shared fixtures of the HAWQ tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

QUANT_MODULES_GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "hawq" / "quant_modules.npz"


@pytest.fixture(scope="session")
def g() -> dict[str, torch.Tensor]:
    """Every array of golden/hawq/quant_modules.npz as a tensor."""
    with np.load(QUANT_MODULES_GOLDEN) as data:
        return {k: torch.from_numpy(data[k].copy()) for k in data.files}
