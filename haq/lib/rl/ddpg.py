"""DDPG agent of HAQ (docs/haq.md section 3.7).

* Actor ``S -> 300 -> 300 -> 1`` with ReLU and a final sigmoid (action in [0, 1]); critic
  ``ReLU(fc11(s) + fc12(a)) -> 300 -> 1``; PyTorch's default initialisation; targets start as copies.
* Update on a minibatch: baseline ``B`` = batch mean reward on the first call, then
  ``B <- B + 0.5·(mean - B)``; target ``y = (r - B) + γ·not_terminal·Q'(s', π'(s'))``; one Adam step on the
  critic's MSE, one on the actor's ``-mean Q(s, π(s))``; soft updates ``θ' <- (1-τ)·θ' + τ·θ``.
* Exploration: a truncated normal on [0, 1] around ``π(s)`` with ``σ_e = init_delta · delta_decay^(e - warmup)``.
"""

from __future__ import annotations

import random
from argparse import Namespace
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch import nn
from torch.optim import Adam

from haq.lib.rl.memory import SequentialMemory


class Actor(nn.Module):
    """Policy network: state -> action in [0, 1]."""

    def __init__(self, n_states: int, n_actions: int, hidden1: int = 400, hidden2: int = 300) -> None:
        super().__init__()
        self.fc1 = nn.Linear(n_states, hidden1)
        self.fc2 = nn.Linear(hidden1, hidden2)
        self.fc3 = nn.Linear(hidden2, n_actions)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc2(torch.relu(self.fc1(s))))
        return torch.sigmoid(self.fc3(h))


class Critic(nn.Module):
    """Q network: (state, action) -> value; the action joins at the first hidden layer."""

    def __init__(self, n_states: int, n_actions: int, hidden1: int = 400, hidden2: int = 300) -> None:
        super().__init__()
        self.fc11 = nn.Linear(n_states, hidden1)
        self.fc12 = nn.Linear(n_actions, hidden1)
        self.fc2 = nn.Linear(hidden1, hidden2)
        self.fc3 = nn.Linear(hidden2, 1)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc11(s) + self.fc12(a))
        return self.fc3(torch.relu(self.fc2(h)))


def truncated_normal(
    mu: np.ndarray | float, sigma: float, lower: float = 0.0, upper: float = 1.0, size: int = 1,
    rng: np.random.Generator | np.random.RandomState | None = None,
) -> np.ndarray:  # fmt: skip
    """Samples of N(mu, sigma²) truncated to [lower, upper] (scipy's ``truncnorm``)."""
    a, b = (lower - mu) / sigma, (upper - mu) / sigma
    return stats.truncnorm.rvs(a, b, loc=mu, scale=sigma, size=size, random_state=rng)


def exploration_sigma(
    episode: int, init_delta: float = 0.5, delta_decay: float = 0.99, warmup: int = 20
) -> float:
    """``σ_e = init_delta · delta_decay^(e - warmup)``."""
    return init_delta * delta_decay ** (episode - warmup)


def hard_update(target: nn.Module, source: nn.Module) -> None:
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters(), strict=True):
            t.copy_(s)


def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """``θ' <- θ'·(1 - τ) + θ·τ`` (evaluated in that order, as the original)."""
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters(), strict=True):
            t.copy_(t * (1.0 - tau) + s * tau)


class DDPG:
    """The agent; ``args`` carries the original flags (hidden1, hidden2, lr_a, lr_c, rmsize, window_length,
    bsize, tau, discount, init_delta, delta_decay, warmup, seed)."""

    def __init__(
        self, n_states: int, n_actions: int, args: Namespace, device: str | torch.device = "cpu"
    ) -> None:
        if args.seed > 0:
            torch.manual_seed(args.seed)
        self.device = torch.device(device)
        h1, h2 = args.hidden1, args.hidden2
        self.actor = Actor(n_states, n_actions, h1, h2)
        self.actor_target = Actor(n_states, n_actions, h1, h2)
        self.critic = Critic(n_states, n_actions, h1, h2)
        self.critic_target = Critic(n_states, n_actions, h1, h2)
        for net in (self.actor, self.actor_target, self.critic, self.critic_target):
            net.to(self.device)
        self.actor_optim = Adam(self.actor.parameters(), lr=args.lr_a)
        self.critic_optim = Adam(self.critic.parameters(), lr=args.lr_c)
        hard_update(self.actor_target, self.actor)
        hard_update(self.critic_target, self.critic)
        self.rng = np.random.RandomState(args.seed if args.seed > 0 else None)
        self.memory = SequentialMemory(args.rmsize, args.window_length, rng=random.Random(args.seed))
        self.n_actions = n_actions
        self.batch_size = args.bsize
        self.tau = args.tau
        self.discount = args.discount
        self.init_delta = args.init_delta
        self.delta_decay = args.delta_decay
        self.warmup = args.warmup
        self.delta = args.init_delta
        self.moving_average: float | None = None
        self.moving_alpha = 0.5
        self.value_loss = 0.0
        self.policy_loss = 0.0

    def _t(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(x)).float().to(self.device)

    def update_policy(self, batch: tuple[np.ndarray, ...] | None = None) -> None:
        """One critic and one actor step on ``batch`` (sampled from the memory when not given)."""
        s0, a, r, s1, live = batch if batch is not None else self.memory.sample_and_split(self.batch_size)
        r = np.array(r, dtype=np.float64, copy=True)
        mean_r = float(np.mean(r))
        if self.moving_average is None:
            self.moving_average = mean_r
        else:
            self.moving_average += self.moving_alpha * (mean_r - self.moving_average)
        r -= self.moving_average
        s0_t, s1_t = self._t(s0), self._t(s1)
        with torch.no_grad():
            next_q = self.critic_target(s1_t, self.actor_target(s1_t))
        target = self._t(r) + self.discount * self._t(live) * next_q

        self.critic.zero_grad()
        value_loss = nn.functional.mse_loss(self.critic(s0_t, self._t(a)), target)
        value_loss.backward()
        self.critic_optim.step()

        self.actor.zero_grad()
        policy_loss = -self.critic(s0_t, self.actor(s0_t)).mean()
        policy_loss.backward()
        self.actor_optim.step()

        soft_update(self.actor_target, self.actor, self.tau)
        soft_update(self.critic_target, self.critic, self.tau)
        self.value_loss = float(value_loss.detach())
        self.policy_loss = float(policy_loss.detach())

    def random_action(self) -> np.ndarray:
        """Uniform action in [0, 1) for the warm-up episodes."""
        return self.rng.uniform(0.0, 1.0, self.n_actions)

    def select_action(self, state: np.ndarray, episode: int) -> np.ndarray:
        """Truncated-normal exploration around the actor's action, clipped to [0, 1]."""
        with torch.no_grad():
            mu = self.actor(self._t(np.asarray(state).reshape(1, -1))).cpu().numpy().squeeze(0)
        self.delta = exploration_sigma(episode, self.init_delta, self.delta_decay, self.warmup)
        sample = truncated_normal(mu, self.delta, size=self.n_actions, rng=self.rng)
        return np.clip(sample, 0.0, 1.0)

    def state_dict(self) -> dict:
        return {
            "actor": self.actor.state_dict(),
            "actor_target": self.actor_target.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "actor_optim": self.actor_optim.state_dict(),
            "critic_optim": self.critic_optim.state_dict(),
            "moving_average": self.moving_average,
        }

    def load_state_dict(self, state: dict) -> None:
        for key in ("actor", "actor_target", "critic", "critic_target", "actor_optim", "critic_optim"):
            getattr(self, key).load_state_dict(state[key])
        self.moving_average = state["moving_average"]

    def save_model(self, output: str | Path) -> None:
        """``actor.pkl`` / ``critic.pkl`` state dicts, as the original writes them."""
        from common.runtime import atomic_open

        for name, net in (("actor", self.actor), ("critic", self.critic)):
            with atomic_open(Path(output) / f"{name}.pkl", "wb") as fh:
                torch.save(net.state_dict(), fh)
