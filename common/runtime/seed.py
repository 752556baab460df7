"""Seeding of Python, NumPy and torch, with a per-rank offset."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["seed_everything", "seed_worker"]


def seed_everything(seed: int, rank: int = 0, deterministic: bool = False) -> int:
    """Seed ``random``, NumPy and torch (CPU and every CUDA device) with ``seed + rank``.

    The rank offset gives each distributed process its own stream (different data augmentation,
    dropout), while DDP still starts all replicas from rank 0's weights. With ``deterministic`` the
    cuDNN autotuner is turned off and torch is asked for deterministic algorithms (warning, not
    failing, where none exists). Returns the effective seed.
    """
    effective = int(seed) + int(rank)
    random.seed(effective)
    np.random.seed(effective % 2**32)
    torch.manual_seed(effective)  # also seeds every CUDA device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
    return effective


def seed_worker(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=...)``: seed ``random`` and NumPy in a worker from torch's seed."""
    worker_seed = torch.initial_seed() % 2**32
    random.seed(worker_seed)
    np.random.seed(worker_seed)
