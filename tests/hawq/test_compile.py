"""``torch.compile`` of a HAWQ-V3 training step compiles once (no Python state in ``forward`` that it guards on).

The original counts QuantBnConv2d's forward calls in a Python int; torch.compile treats an int attribute of a
module as a constant and recompiled the whole model at every step, until its recompile limit sent it back to
eager. A counting backend (it returns the captured graph unchanged) shows how often the model is captured.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from hawq.utils.models import build_quantized_model
from hawq.utils.quant_config import QuantSettings, configure_quant_modules, uniform_module_bits
from hawq.utils.quantization_utils.quant_modules import QuantBnConv2d


def _qmodel(fix_bn: bool, threshold: int | None = None) -> nn.Module:
    torch.manual_seed(0)
    model = build_quantized_model("resnet18", torchvision.models.resnet18(num_classes=10), input_size=32)
    settings = QuantSettings(
        act_range_momentum=0.99, fix_BN=fix_bn, fix_BN_threshold=threshold, channel_wise=True, bias_bit=32
    )
    configure_quant_modules(model, uniform_module_bits(model, 8), settings)
    return model.eval() if fix_bn else model.train()


def _train(model: nn.Module, steps: int, after_step=None) -> list[torch.Tensor]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1)
    losses = []
    for step in range(steps):
        x = torch.randn(4, 3, 32, 32, generator=gen)
        y = torch.randint(0, 10, (4,), generator=gen)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach())
        if after_step is not None:
            after_step(step)
    return losses


class CountingBackend:
    """A torch.compile backend that records every captured graph and runs it as captured."""

    def __init__(self) -> None:
        self.graphs = 0

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list) -> object:
        self.graphs += 1
        return gm.forward


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_training_step_compiles_once_with_training_bn() -> None:
    """Training-mode BN (unfolded statistics); the ``--fix-BN`` step is counted in the next test."""
    model = _qmodel(False)
    backend = CountingBackend()
    compiled = torch.compile(model, backend=backend)
    seen: list[int] = []
    _train(compiled, 3, after_step=lambda _: seen.append(backend.graphs))
    assert seen == [1, 1, 1]
    convbn = next(m for m in model.modules() if isinstance(m, QuantBnConv2d))
    assert int(convbn.counter) == 4  # starts at 1, one increment per forward (the original's count)


def test_fix_bn_step_compiles_once_and_matches_eager() -> None:
    eager_model, compiled_model = _qmodel(True), _qmodel(True)
    eager = _train(eager_model, 3)
    backend = CountingBackend()
    seen: list[int] = []
    compiled = _train(
        torch.compile(compiled_model, backend=backend), 3, after_step=lambda _: seen.append(backend.graphs)
    )
    assert seen == [1, 1, 1]
    convbn = next(m for m in compiled_model.modules() if isinstance(m, QuantBnConv2d))
    assert int(convbn.counter) == 4
    assert torch.equal(torch.stack(eager), torch.stack(compiled))
    for a, b in zip(eager_model.state_dict().values(), compiled_model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_threshold_switch_follows_eager_without_recapture() -> None:
    """With ``--fix-BN-threshold 3`` the BN mode flips once (quirk 8: at the second call), as in eager mode."""
    modes_eager: list[bool] = []
    modes_compiled: list[bool] = []
    eager_model = _qmodel(False, threshold=3)
    compiled_model = _qmodel(False, threshold=3)

    def first_convbn(model: nn.Module) -> QuantBnConv2d:
        return next(m for m in model.modules() if isinstance(m, QuantBnConv2d))

    _train(eager_model, 4, after_step=lambda _: modes_eager.append(first_convbn(eager_model).fix_BN))
    backend = CountingBackend()
    graphs: list[int] = []

    def after(_: int) -> None:
        modes_compiled.append(first_convbn(compiled_model).fix_BN)
        graphs.append(backend.graphs)

    _train(torch.compile(compiled_model, backend=backend), 4, after_step=after)
    assert modes_eager == [False, True, True, True]
    assert modes_compiled == modes_eager
    # the host-side threshold check splits the model into pieces that are captured at the first step; the mode
    # flip at step 1 changes which of them run, and none is captured again
    assert graphs == [graphs[0]] * 4, graphs
