"""DDPG updates, exploration schedule and replay memory against the original (ddpg_golden)."""

from __future__ import annotations

from argparse import Namespace

import numpy as np
import pytest
import torch

from haq.lib.rl.ddpg import DDPG, exploration_sigma, truncated_normal
from haq.lib.rl.memory import SequentialMemory

ARGS = dict(hidden1=300, hidden2=300, lr_a=1e-4, lr_c=1e-3, rmsize=128, window_length=1, bsize=64, tau=0.01,
            discount=1.0, init_delta=0.5, delta_decay=0.99, warmup=20, seed=234)  # fmt: skip


def test_two_updates_are_bit_exact(ddpg_golden) -> None:
    z, _ = ddpg_golden
    agent = DDPG(10, 1, Namespace(**ARGS))
    for name in ("actor", "critic"):
        init = {k[len(f"init_{name}_") :]: torch.from_numpy(z[k]) for k in z if k.startswith(f"init_{name}_")}
        for key, value in getattr(agent, name).state_dict().items():  # seeded construction == the original's
            assert torch.equal(value, init[key])
    for step in (0, 1):
        batch = tuple(z[f"batch{step}_{k}"] for k in ("state0", "action", "reward", "state1", "not_terminal"))
        agent.update_policy(batch)
        assert agent.value_loss == pytest.approx(float(z[f"step{step}_value_loss"]), abs=1e-6)
        assert agent.policy_loss == pytest.approx(float(z[f"step{step}_policy_loss"]), abs=1e-6)
        assert agent.moving_average == pytest.approx(float(z[f"step{step}_moving_average"]), abs=1e-12)
    for name in ("actor", "actor_target", "critic", "critic_target"):
        for key, value in getattr(agent, name).state_dict().items():
            np.testing.assert_allclose(value.numpy(), z[f"after2_{name}_{key}"], atol=1e-6, rtol=0)
    out = agent.actor(torch.linspace(0, 1, 10).reshape(1, -1))
    np.testing.assert_allclose(out.detach().numpy(), z["actor_after2_output_on_linspace_state"], atol=1e-6)


def test_delta_schedule_and_truncated_normal(ddpg_golden) -> None:
    z, _ = ddpg_golden
    np.testing.assert_allclose(
        [exploration_sigma(int(e)) for e in z["delta_schedule_episodes"]], z["delta_schedule"], rtol=1e-12
    )
    rng = np.random.RandomState(0)
    for mu in z["truncnorm_mu"]:
        for sigma in z["truncnorm_sigma"]:
            s = truncated_normal(mu, sigma, size=2000, rng=rng)
            assert s.min() >= 0 and s.max() <= 1
            if sigma == 0.01 and 0.1 < mu < 0.9:
                assert abs(s.mean() - mu) < 0.005


def test_memory_transitions(ddpg_golden) -> None:
    _, j = ddpg_golden
    mem = SequentialMemory(100)
    for obs, act, rew, done in j["memory_appended"]:
        mem.append(np.array(obs), np.array(act), rew, done)
    out = mem.sample_and_split(len(j["memory_sample_batch_idxs"]), j["memory_sample_batch_idxs"])
    for key, arr in zip(("state0", "action", "reward", "state1", "not_terminal"), out, strict=True):
        np.testing.assert_allclose(arr, np.array(j["memory_sample"][key]), atol=1e-12)
