"""hawq.hessian's ``ggn`` mode: diagonal Hessian blocks of a piecewise-linear network as Gauss-Newton blocks.

The reference is the exact Hessian block of each layer of a small ReLU network (conv, BN with running statistics,
a residual sum, max and average pooling, a linear classifier), computed in float64 with ``torch.func.hessian``.
The tests check the identity the mode relies on (``H_ii = G_ii`` for ReLU, not for tanh), the output-space probes'
second moment, the estimate against the exact traces within three of its own standard errors, and the refusals.
"""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from torch import nn
from torch.func import functional_call

from common.runtime import UsageError, run_main
from hawq import hessian
from hawq.gauss_newton import GaussNewtonProbes, check_piecewise_linear, output_factor
from hawq.hessian import hessian_traces

LAYERS = ("conv1", "conv2", "conv3", "fc")
PROBES = 600  # fixed seed 0


class ResidualNet(nn.Module):
    """conv -> BN -> act -> [conv -> BN] + skip -> act -> maxpool -> conv(stride 2) -> act -> avgpool -> linear."""

    def __init__(self, act: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 3, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(3)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(3)
        self.conv3 = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.act = act()
        self.pool = nn.MaxPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.bn1(self.conv1(x)))
        h = self.act(self.bn2(self.conv2(h)) + h)
        h = self.act(self.conv3(self.pool(h)))
        return self.fc(self.gap(h).flatten(1))


def _problem(act: type[nn.Module], seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    net = ResidualNet(act).double()
    with torch.no_grad():
        for bn in (net.bn1, net.bn2):
            bn.running_mean.uniform_(-0.3, 0.3)
            bn.running_var.uniform_(0.5, 1.5)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(20, 2, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (20,), generator=g)
    return net.eval(), x, y


def _exact_blocks(
    net: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per layer: the exact Hessian block of the batch-mean cross-entropy and its Gauss-Newton part."""
    params = {k: v.detach() for k, v in net.named_parameters()}
    out = {}
    for name in LAYERS:
        key = f"{name}.weight"
        w0 = params[key]

        def logits(w: torch.Tensor, key: str = key) -> torch.Tensor:
            return functional_call(net, {**params, key: w}, (x,))

        h = torch.func.hessian(lambda w: nn.functional.cross_entropy(logits(w), y))(w0)
        j = torch.func.jacrev(logits)(w0).reshape(len(x), 5, -1)
        p = logits(w0).softmax(1)
        out_h = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
        g = torch.einsum("nca,ncd,ndb->ab", j, out_h, j) / len(x)
        out[name] = (h.reshape(w0.numel(), w0.numel()), g)
    return out


@pytest.fixture(scope="module")
def relu_problem() -> dict[str, object]:
    net, x, y = _problem(nn.ReLU)
    return {"net": net, "x": x, "y": y, "blocks": _exact_blocks(net, x, y)}


def test_softmax_hessian_is_the_second_moment_of_the_output_probes() -> None:
    """Averaged over all 2^C sign vectors, ``u u^T`` is exactly ``diag(p) - p p^T`` for every row."""
    logits = torch.tensor([[0.3, -1.2, 2.0, 0.1], [5.0, 0.0, -3.0, 1.0]], dtype=torch.float64)
    p = logits.softmax(1)
    moment = torch.zeros(2, 4, 4, dtype=torch.float64)
    signs = list(itertools.product((-1.0, 1.0), repeat=4))
    for s in signs:
        u = output_factor(logits, torch.tensor([s, s], dtype=torch.float64))
        moment += u[:, :, None] * u[:, None, :]
    want = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    torch.testing.assert_close(moment / len(signs), want, rtol=0, atol=1e-15)


def test_relu_blocks_are_gauss_newton_blocks_and_tanh_blocks_are_not(relu_problem: dict) -> None:
    """The identity the mode rests on: through ReLU, BN (eval), pooling and a residual sum the logits are linear in
    one layer's weights, so ``H_ii = G_ii``; with tanh the hidden layers' blocks differ (the last one never does)."""
    for name, (h, g) in relu_problem["blocks"].items():
        torch.testing.assert_close(h, g, rtol=0, atol=1e-12, msg=name)
    net, x, y = _problem(nn.Tanh)
    for name, (h, g) in _exact_blocks(net, x, y).items():
        gap = float((h - g).abs().max())
        if name == "fc":
            assert gap < 1e-12
        else:
            assert gap > 1e-4, f"{name}: tanh block equals its Gauss-Newton part ({gap:.1e})"


def test_ggn_within_three_stderr_of_exact_block_traces(relu_problem: dict) -> None:
    net, x, y = relu_problem["net"], relu_problem["x"], relu_problem["y"]
    for batches in ([(x, y)], [(x[:12], y[:12]), (x[12:], y[12:])]):
        traces = hessian_traces(net, batches, list(LAYERS), max_iter=PROBES, tol=0.0, mode="ggn")
        for name, (h, _) in relu_problem["blocks"].items():
            t, exact = traces[name], float(h.trace())
            assert t.probes == PROBES and t.numel == h.shape[0]
            assert abs(t.trace_sum - exact) <= 3 * t.trace_sum_stderr, (
                name,
                t.trace_sum,
                exact,
                t.trace_sum_stderr,
            )
            assert t.trace_sum_stderr < 0.05 * exact  # a sharp check, not a wide interval
            assert t.trace == pytest.approx(t.trace_sum / t.numel, rel=1e-15)


def test_ggn_check_rejects_the_wrong_quantity() -> None:
    """On a tanh network the same estimator (the refusal bypassed) misses the hidden layers' blocks by many standard
    errors: the three-error check above is sharp enough to see a wrong quantity, and the refusal is needed."""
    net, x, y = _problem(nn.Tanh)
    blocks = _exact_blocks(net, x, y)
    weights = {n: dict(net.named_modules())[n].weight for n in LAYERS}
    probes = GaussNewtonProbes(net, weights, [(x, y)], torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    values = torch.tensor([probes.sample(list(LAYERS), gen) for _ in range(PROBES)], dtype=torch.float64)
    mean, se = values.mean(0), values.std(0) / PROBES**0.5
    z = {n: abs(float(mean[i]) - float(blocks[n][0].trace())) / float(se[i]) for i, n in enumerate(LAYERS)}
    assert z["fc"] < 3
    assert max(z["conv1"], z["conv2"], z["conv3"]) > 10, z


def test_retained_and_recomputed_graphs_draw_the_same_values(relu_problem: dict) -> None:
    net, x, y = relu_problem["net"], relu_problem["x"], relu_problem["y"]
    batches = [(x[:7], y[:7]), (x[7:], y[7:])]
    kept = hessian_traces(net, batches, max_iter=5, tol=0.0, mode="ggn", retain_graphs=True)
    redone = hessian_traces(net, batches, max_iter=5, tol=0.0, mode="ggn", retain_graphs=False)
    for name in kept:
        assert kept[name].trace_sum == pytest.approx(redone[name].trace_sum, rel=1e-12)


def test_refusals_and_what_is_accepted(relu_problem: dict) -> None:
    net, x, y = _problem(nn.Tanh)
    with pytest.raises(UsageError, match=r"act \(Tanh\)"):
        hessian_traces(net, (x, y), max_iter=2, mode="ggn")
    relu = relu_problem["net"]
    for criterion in (
        nn.MSELoss(),
        nn.CrossEntropyLoss(weight=torch.ones(5)),
        nn.CrossEntropyLoss(reduction="sum"),
    ):
        with pytest.raises(UsageError, match="softmax cross-entropy"):
            hessian_traces(relu, (x, y), max_iter=2, mode="ggn", criterion=criterion)
    smoothed = hessian_traces(
        relu, (x, y), max_iter=2, mode="ggn", criterion=nn.CrossEntropyLoss(label_smoothing=0.1)
    )
    plain = hessian_traces(relu, (x, y), max_iter=2, mode="ggn")
    assert smoothed == plain  # the labels do not enter a piecewise-linear network's blocks


@pytest.mark.parametrize("arch", ["tiny_resnet", "tiny_mobilenet_v2", "resnet20", "resnet18", "mobilenet_v2"])
def test_models_hawq_searches_are_piecewise_linear(arch: str) -> None:
    from common.models import build_model

    check_piecewise_linear(build_model(arch, num_classes=10))


def test_smooth_torchvision_models_are_refused() -> None:
    from common.models import build_model

    with pytest.raises(UsageError, match="SiLU"):
        check_piecewise_linear(build_model("efficientnet_b0", num_classes=10))


def test_cli_ggn_mode(tmp_path) -> None:
    out = tmp_path / "t.json"
    argv = ["--arch", "tiny_resnet", "--data", "digits", "--out", str(out), "--batch-size", "16"]
    argv += ["--probes", "4", "--tol", "0", "--mode", "ggn", "--device", "cpu", "--no-progress"]
    run_main(hessian.main, argv)
    result = json.loads(out.read_text())
    assert result["settings"]["mode"] == "ggn"
    assert len(result["layers"]) == 13
    for layer in result["layers"].values():
        assert layer["probes"] == 4 and layer["trace_sum"] > 0 and layer["trace_sum_stderr"] is not None


def test_ggn_on_the_registered_tiny_resnet_matches_exact_blocks() -> None:
    """The whole registered model (torchvision BasicBlocks with in-place ReLUs, 1x1 downsample convs), in float64
    at 8 px: three layers' exact Hessian blocks against the ggn estimate, within three standard errors."""
    from common.models import build_model

    torch.manual_seed(0)
    model = build_model("tiny_resnet", num_classes=10).double().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 3, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (8,), generator=g)
    params = {k: v.detach() for k, v in model.named_parameters()}
    names = ["conv1", "layer2.0.downsample.0", "fc"]
    traces = hessian_traces(model, (x, y), names, max_iter=400, tol=0.0, mode="ggn")
    for name in names:
        key = f"{name}.weight"

        def loss(w: torch.Tensor, key: str = key) -> torch.Tensor:
            return nn.functional.cross_entropy(functional_call(model, {**params, key: w}, (x,)), y)

        block = torch.func.hessian(loss)(params[key]).reshape(params[key].numel(), -1)
        exact, t = float(block.trace()), traces[name]
        assert abs(t.trace_sum - exact) <= 3 * t.trace_sum_stderr, (
            name,
            t.trace_sum,
            exact,
            t.trace_sum_stderr,
        )
        assert t.trace_sum_stderr < 0.03 * exact
