"""Linear (latency) search environment of HAQ (docs/haq.md sections 3.2-3.4, 3.6).

Two steps per layer, weight bits then activation bits. State bookkeeping (in place, persisting across episodes):
after the weight step of layer ``k``, row ``k`` gets ``[.., w_k/max_bit, 1.0]`` and is returned; after the
activation step (``k < L-1``) the pointer moves to ``k+1`` and row ``k+1`` gets ``[.., a_k/max_bit, 0.0]``. So the
agent sees flag 1 when choosing activation bits and 0 when choosing weight bits of layers >= 1 (quirk 7 of
section 8). After the last activation step the latency wall runs, ``evaluate(strategy)`` returns the accuracy
and the reward is ``0.1·(acc - org_acc)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from haq.lib.env.budget import (
    BudgetError,
    action_to_bit,
    latency_cost,
    linear_budget_wall,
    minimum_latency,
    reference_latency,
)


class LinearQuantizeEnv:
    """Bookkeeping of the linear search; ``evaluate`` maps a final ``[[w, a], ...]`` strategy to an accuracy."""

    def __init__(
        self,
        embedding: np.ndarray,
        table: np.ndarray,
        preserve_ratio: float,
        evaluate: Callable[[list[list[int]]], float],
        org_acc: float,
        min_bit: float = 2,
        max_bit: float = 8,
        float_bit: int = 8,
        always_pin_first_last: bool = False,
    ) -> None:
        if table.ndim != 3 or table.shape[0] != embedding.shape[0]:
            raise BudgetError(
                f"latency table has shape {tuple(table.shape)} but the model has {embedding.shape[0]} quantizable "
                "layers (expected [layers, bits, bits])"
            )
        if not (1 <= min_bit and max_bit <= table.shape[1] and float_bit <= table.shape[1]):
            raise BudgetError(
                f"bits must lie within the table's 1..{table.shape[1]} (min_bit {min_bit:g}, max_bit {max_bit:g}, "
                f"float_bit {float_bit})"
            )
        self.layer_embedding = embedding
        self.cost_lookuptable = table
        self.compress_ratio = float(preserve_ratio)
        self.evaluate = evaluate
        self.org_acc = float(org_acc)
        self.min_bit, self.max_bit, self.float_bit = min_bit, max_bit, int(float_bit)
        self.always_pin_first_last = always_pin_first_last
        floor = minimum_latency(table, int(min_bit)) / self.org_cost()
        if not self.compress_ratio > floor:
            raise BudgetError(
                f"preserve ratio {preserve_ratio} is unreachable: first/last layers at 8 bits and the rest at "
                f"min_bit {min_bit:g} still cost {floor:.4f} of the reference latency"
            )
        self.best_reward = -math.inf
        self.cur_ind = 0
        self.strategy: list[list[int]] = []
        self.weight_turn = True
        self.last_weight_action = int(max_bit)

    @property
    def n_layers(self) -> int:
        return int(self.cost_lookuptable.shape[0])

    def org_cost(self) -> float:
        return reference_latency(self.cost_lookuptable, self.float_bit)

    def reward(self, acc: float) -> float:
        return (acc - self.org_acc) * 0.1

    def reset(self) -> np.ndarray:
        self.cur_ind = 0
        self.strategy = []
        return self.layer_embedding[0].copy()

    def step(self, action: float) -> tuple[np.ndarray, float, bool, dict]:
        bit = action_to_bit(np.asarray(action).reshape(-1)[0], self.min_bit, self.max_bit)
        if self.weight_turn:
            self.last_weight_action = bit
        else:
            self.strategy.append([self.last_weight_action, bit])
        if self.cur_ind == self.n_layers - 1 and not self.weight_turn:
            self.strategy = linear_budget_wall(
                self.strategy, self.cost_lookuptable, self.compress_ratio, self.min_bit, self.float_bit,
                always_pin_first_last=self.always_pin_first_last,
            )  # fmt: skip
            cost = latency_cost(self.strategy, self.cost_lookuptable)
            acc = float(self.evaluate([list(p) for p in self.strategy]))
            reward = self.reward(acc)
            self.best_reward = max(self.best_reward, reward)
            self.weight_turn = True
            info = {"cost_ratio": cost / self.org_cost(), "accuracy": acc, "cost": cost}
            return self.layer_embedding[self.cur_ind].copy(), reward, True, info
        if not self.weight_turn:
            self.cur_ind += 1
        row = self.layer_embedding[self.cur_ind]
        row[-2] = bit / float(self.max_bit)
        row[-1] = float(self.weight_turn)
        self.weight_turn = not self.weight_turn
        cost = latency_cost(self.strategy, self.cost_lookuptable) if self.strategy else 0.0
        return row.copy(), 0.0, False, {"cost": cost}
