"""Sequential replay memory of HAQ's DDPG (keras-rl convention, window length 1; docs/haq.md section 3.7).

Entries ``(observation, action, reward, done)`` are appended in order to a ring buffer of ``limit`` entries.
A sampled transition at index ``idx`` (1 <= idx < n) takes state, action, reward and done from entry
``idx - 1`` and the next state from entry ``idx``. Indices are ``b`` distinct draws from ``[0, n-1)`` plus one;
an index whose entry ``idx - 2`` is terminal (its state would be the post-episode extra entry) is redrawn
uniformly from ``[1, n)``. With fewer than ``b + 1`` entries the draws are with replacement.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np


class SequentialMemory:
    """Ring buffer of ``limit`` entries with :meth:`sample_and_split` returning float64 arrays."""

    def __init__(self, limit: int, window_length: int = 1, rng: random.Random | None = None) -> None:
        if window_length != 1:
            raise ValueError("only window_length 1 is supported (the value every HAQ script uses)")
        self.limit = int(limit)
        self.entries: deque[tuple[Any, Any, float, bool]] = deque(maxlen=self.limit)
        self.rng = rng or random.Random()

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def nb_entries(self) -> int:
        return len(self.entries)

    def append(self, observation: Any, action: Any, reward: float, terminal: bool) -> None:
        self.entries.append((observation, action, float(reward), bool(terminal)))

    def _draw(self, low: int, high: int, size: int) -> list[int]:
        if high - low >= size:
            return self.rng.sample(range(low, high), size)
        return [self.rng.randint(low, high - 1) for _ in range(size)]

    def sample_indexes(self, batch_size: int, batch_idxs: Sequence[int] | None = None) -> list[int]:
        """Entry indices of the next states of a batch (the ``idx`` of the module docstring)."""
        n = self.nb_entries
        if n < 2:
            raise ValueError("the replay memory needs at least two entries to sample a transition")
        raw = list(batch_idxs) if batch_idxs is not None else self._draw(0, n - 1, batch_size)
        out = []
        for idx in (int(i) + 1 for i in raw):
            while idx >= 2 and self.entries[idx - 2][3]:
                idx = self._draw(1, n, 1)[0]
            out.append(idx)
        return out

    def sample_and_split(
        self, batch_size: int, batch_idxs: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(state0, action, reward, state1, not_terminal)``, each ``[batch, -1]`` float64."""
        idxs = self.sample_indexes(batch_size, batch_idxs)
        s0, act, rew, s1, live = [], [], [], [], []
        for idx in idxs:
            obs, action, reward, done = self.entries[idx - 1]
            s0.append(obs)
            act.append(action)
            rew.append(reward)
            live.append(0.0 if done else 1.0)
            s1.append(self.entries[idx][0])
        b = len(idxs)

        def arr(x: list) -> np.ndarray:
            return np.asarray(x, dtype=np.float64).reshape(b, -1)

        return arr(s0), arr(act), arr(rew), arr(s1), arr(live)
