"""K-means (model-size) search environment of HAQ (docs/haq.md sections 3.2-3.4, 3.6).

One step per quantizable layer: the action becomes the layer's weight bits (section 3.3). After the step of
layer ``k`` (``k < L-1``) the raw bit-width is written into the bit slot of row ``k+1`` of the state matrix,
in place (it persists into later episodes; row 0 keeps its initial 4.0), and row ``k+1`` is returned. After
the last step the budget wall runs, ``evaluate(strategy)`` quantizes/fine-tunes/measures the model, and the
reward is ``0.1·(acc - org_acc)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from haq.lib.env.budget import BudgetError, action_to_bit, kmeans_budget_wall, kmeans_size


class QuantizeEnv:
    """Bookkeeping of the K-means search; ``evaluate`` maps a final strategy to an accuracy in percent."""

    def __init__(
        self,
        embedding: np.ndarray,
        weight_counts: Sequence[int],
        preserve_ratio: float,
        evaluate: Callable[[list[int]], float],
        org_acc: float,
        min_bit: float = 1,
        max_bit: float = 8,
        float_bit: float = 32,
    ) -> None:
        if not preserve_ratio > min_bit / float_bit:
            raise BudgetError(
                f"preserve ratio {preserve_ratio} is unreachable: even every layer at min_bit {min_bit:g} "
                f"keeps {min_bit / float_bit:.4f} of the {float_bit:g}-bit model size"
            )
        self.layer_embedding = embedding
        self.wsize_list = [int(n) for n in weight_counts]
        self.compress_ratio = float(preserve_ratio)
        self.evaluate = evaluate
        self.org_acc = float(org_acc)
        self.min_bit, self.max_bit, self.float_bit = min_bit, max_bit, float(float_bit)
        self.best_reward = -math.inf
        self.cur_ind = 0
        self.strategy: list[int] = []

    @property
    def n_layers(self) -> int:
        return len(self.wsize_list)

    def org_size(self) -> float:
        """Reference size in bits: ``float_bit·Σ n_i``."""
        return float(sum(self.wsize_list)) * self.float_bit

    def reward(self, acc: float) -> float:
        return (acc - self.org_acc) * 0.1

    def reset(self) -> np.ndarray:
        self.cur_ind = 0
        self.strategy = []
        return self.layer_embedding[0].copy()

    def step(self, action: float) -> tuple[np.ndarray, float, bool, dict]:
        bit = action_to_bit(np.asarray(action).reshape(-1)[0], self.min_bit, self.max_bit)
        self.strategy.append(bit)
        if self.cur_ind == self.n_layers - 1:
            self.strategy = kmeans_budget_wall(
                self.strategy, self.wsize_list, self.compress_ratio, self.min_bit, self.float_bit
            )
            size = kmeans_size(self.strategy, self.wsize_list)
            acc = float(self.evaluate(list(self.strategy)))
            reward = self.reward(acc)
            self.best_reward = max(self.best_reward, reward)
            info = {"w_ratio": size / self.org_size(), "accuracy": acc, "w_size": size}
            return self.layer_embedding[self.cur_ind].copy(), reward, True, info
        self.cur_ind += 1
        self.layer_embedding[self.cur_ind][-1] = bit
        info = {"w_size": kmeans_size(self.strategy, self.wsize_list)}
        return self.layer_embedding[self.cur_ind].copy(), 0.0, False, info
