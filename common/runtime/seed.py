"""Seeding of Python, NumPy and torch, with a per-rank offset; capture and restore of the generator states."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

__all__ = [
    "gather_rng_states",
    "restore_rng_states",
    "rng_state",
    "seed_everything",
    "seed_worker",
    "set_rng_state",
]


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


def rng_state() -> dict[str, Any]:
    """This process's Python, NumPy, torch CPU and (when initialised) CUDA generator states.

    Plain lists, numbers and tensors only, so a checkpoint holding it loads with ``weights_only=True``.
    """
    version, py_state, gauss = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [int(version), list(py_state), gauss],
        "numpy": [
            torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            int(pos),
            int(has_gauss),
            float(cached),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (CUDA only when both sides have it)."""
    version, py_state, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in py_state), gauss))
    keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def gather_rng_states() -> list[dict[str, Any]]:
    """:func:`rng_state` of every rank, in rank order (a one-item list without a process group).

    A collective: every rank must call it. The main process stores the list in its checkpoint.
    """
    import torch.distributed as dist

    mine = rng_state()
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [mine]
    everyone: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    return [{k: ([t.cpu() for t in v] if k == "cuda" else v) for k, v in s.items()} for s in everyone]


def restore_rng_states(states: Any, rank: int = 0, world_size: int = 1) -> bool:
    """Set this rank's generators from a list saved by :func:`gather_rng_states` (or one state dict).

    Returns False, touching nothing, when the list was saved by a different number of processes (the
    run then keeps its fresh seeding and is no longer bit-identical to an uninterrupted one).
    """
    if isinstance(states, dict):
        states = [states]
    if not isinstance(states, (list, tuple)) or len(states) != world_size:
        return False
    set_rng_state(states[rank])
    return True
