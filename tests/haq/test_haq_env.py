"""State embeddings and two consecutive episodes of both environments against the original (env_golden)."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from haq.lib.env.budget import BudgetError
from haq.lib.env.embedding import quantizable_modules, state_embedding
from haq.lib.env.linear_quantize_env import LinearQuantizeEnv
from haq.lib.env.quantize_env import QuantizeEnv
from haq.lib.utils.linear_quant import QUANT_TYPES
from haq.models import build_haq_model

FLOAT = (nn.Conv2d, nn.Linear)


@pytest.mark.parametrize(
    "arch,types,linear,key",
    [
        ("qmobilenetv2", QUANT_TYPES, True, "qmobilenetv2_linear_embedding"),
        ("mobilenetv2", FLOAT, False, "mobilenetv2_kmeans_embedding"),
        ("resnet50", FLOAT, False, "resnet50_kmeans_embedding"),
    ],
)
def test_state_embedding(env_golden, arch, types, linear, key) -> None:
    z, _ = env_golden
    model = build_haq_model(arch, 1000)
    np.testing.assert_allclose(state_embedding(model, types, 224, linear), z[key], atol=1e-12, rtol=0)
    if not linear:
        wsize = [m.weight.numel() for _, m in quantizable_modules(model, types)]
        np.testing.assert_array_equal(wsize, z[f"{arch}_wsize_list"])


def _play(env, actions):
    obs = [env.reset()]
    for a in actions:
        o, reward, done, info = env.step(a)
        obs.append(o)
    return np.array(obs), reward, done, info


def test_linear_env_two_episodes(env_golden, latency_table) -> None:
    z, j = env_golden
    env = LinearQuantizeEnv(
        z["qmobilenetv2_linear_embedding"].copy(), latency_table, 0.6, lambda s: 50.0, 60.0, 2, 8, 8
    )
    for e in (0, 1):
        obs, reward, done, info = _play(env, z[f"linear_episode{e}_actions"])
        g = j[f"linear_episode{e}"]
        np.testing.assert_array_equal(obs, z[f"linear_episode{e}_observations"])
        assert done and env.strategy == g["strategy"] and reward == g["reward"] and info == g["info"]


def test_kmeans_env_two_episodes(env_golden) -> None:
    z, j = env_golden
    env = QuantizeEnv(
        z["resnet50_kmeans_embedding"].copy(), z["resnet50_wsize_list"], 0.1, lambda s: 65.0, 70.0
    )
    for e in (0, 1):
        obs, reward, done, info = _play(env, z[f"kmeans_episode{e}_actions"])
        g = j[f"kmeans_episode{e}"]
        np.testing.assert_array_equal(obs, z[f"kmeans_episode{e}_observations"])
        assert done and env.strategy == g["strategy"] and reward == g["reward"]
        assert info == pytest.approx(g["info"], rel=1e-12)


def test_unreachable_ratios_are_refused(env_golden, latency_table) -> None:
    z, _ = env_golden
    with pytest.raises(BudgetError, match="unreachable"):
        QuantizeEnv(z["resnet50_kmeans_embedding"].copy(), z["resnet50_wsize_list"], 0.02, lambda s: 0.0, 0.0)
    with pytest.raises(BudgetError, match="unreachable"):
        LinearQuantizeEnv(z["qmobilenetv2_linear_embedding"].copy(), latency_table, 0.2, lambda s: 0.0, 0.0)
