"""Standard errors of hawq.hessian's trace estimates, the default mode, and both modes against exact blocks.

The reference is the exact Hessian of a small trained network (four conv/linear layers, 237 weights),
computed with ``torch.func.hessian`` over the concatenated weights. Each mode's estimate must lie within
three of its own reported standard errors of the exact block trace, the standard errors must match the
theoretical per-probe variance, and the check must be sharp enough to reject wrong quantities.
"""

from __future__ import annotations

import inspect
import json
import math
import statistics

import pytest
import torch
from torch import nn
from torch.func import functional_call

from common.runtime import run_main
from hawq import hessian, search
from hawq.hessian import HessianOperator, LayerTrace, hessian_traces, standard_error

LAYERS = ("conv1", "conv2", "conv3", "fc")
PROBES = 1000  # fixed seed 0; the largest |z| of the eight checks below is about 1.2 with these settings


class SmallNet(nn.Module):
    """conv(1->3) -> tanh -> conv(3->3) -> BN -> tanh -> conv(3->3, stride 2) -> tanh -> linear(12->4)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 3, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.conv3 = nn.Conv2d(3, 3, 3, stride=2)
        self.fc = nn.Linear(12, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.conv1(x))
        x = torch.tanh(self.bn(self.conv2(x)))
        x = torch.tanh(self.conv3(x))
        return self.fc(x.flatten(1))


def _weights(net: nn.Module) -> dict[str, torch.Tensor]:
    modules = dict(net.named_modules())
    return {n: modules[n].weight for n in LAYERS}


@pytest.fixture(scope="module")
def problem() -> dict[str, object]:
    """A net fitted to one batch (so the loss is small and the blocks are well defined), its exact Hessian."""
    torch.manual_seed(0)
    net = SmallNet().double()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-0.2, 0.2)
        net.bn.running_var.uniform_(0.5, 1.5)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(24, 1, 6, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (24,), generator=g)
    net.eval()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(300):
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    weights = {n: w.detach().clone() for n, w in _weights(net).items()}
    sizes = [w.numel() for w in weights.values()]
    params = {k: v.detach() for k, v in net.named_parameters()}

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        p = dict(params)
        for (n, w), part in zip(weights.items(), torch.split(flat, sizes), strict=True):
            p[f"{n}.weight"] = part.reshape(w.shape)
        return nn.functional.cross_entropy(functional_call(net, p, (x,)), y)

    h = torch.func.hessian(loss_of)(torch.cat([w.reshape(-1) for w in weights.values()])).detach()
    blocks, start = {}, 0
    for n, k in zip(LAYERS, sizes, strict=True):
        blocks[n] = slice(start, start + k)
        start += k
    net.train()
    return {"net": net, "batch": (x, y), "h": h, "blocks": blocks}


def _probe_sd(h: torch.Tensor, s: slice, mode: str) -> float:
    """Standard deviation of one probe ``t_j``: Rademacher ``2 Σ_{a≠b} (H_jj)_ab²`` (+ cross blocks in joint)."""
    hb = h[s, s]
    var = 2 * float((hb**2).sum() - (torch.diagonal(hb) ** 2).sum())
    if mode == "joint":
        var += float((h[s, :] ** 2).sum() - (hb**2).sum())
    return math.sqrt(var)


def _accepts(estimate: float, stderr: float, value: float) -> bool:
    """The test's acceptance rule: ``value`` lies within three standard errors of the estimate."""
    return abs(estimate - value) <= 3 * stderr


@pytest.mark.parametrize("mode", ["per_layer", "joint"])
def test_within_three_stderr_of_exact_block_trace(problem: dict, mode: str) -> None:
    h, blocks = problem["h"], problem["blocks"]
    res = hessian_traces(problem["net"], problem["batch"], list(LAYERS), max_iter=PROBES, tol=0.0, mode=mode)
    full_trace = float(torch.trace(h))
    for n in LAYERS:
        s = blocks[n]
        true = float(torch.trace(h[s, s]))
        est = res[n]
        se = est.trace_sum_stderr
        assert est.probes == PROBES
        assert est.trace_stderr == pytest.approx(se / est.numel)
        # the reported standard error is the theoretical one up to sampling noise (about 5 % at 1000 probes)
        expected = _probe_sd(h, s, mode) / math.sqrt(PROBES)
        assert 0.8 * expected < se < 1.25 * expected, (n, se, expected)
        assert _accepts(est.trace_sum, se, true), (n, est.trace_sum, true, se)
        # the rule is sharp enough to reject: a 10 % error, the whole Hessian's trace, another layer's block
        for wrong in (1.1 * true, 0.9 * true, full_trace):
            assert not _accepts(est.trace_sum, se, wrong), (n, wrong)
        for other in LAYERS:
            if other != n:
                assert not _accepts(est.trace_sum, se, float(torch.trace(h[blocks[other], blocks[other]])))


def test_a_wrong_estimator_is_rejected(problem: dict) -> None:
    """Crediting each layer with the whole quadratic form ``v^T H v`` (cross blocks included) fails the check."""
    net, h, blocks = problem["net"], problem["h"], problem["blocks"]
    net.eval()
    weights = _weights(net)
    op = HessianOperator(net, weights, [problem["batch"]], nn.CrossEntropyLoss(), torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    samples: list[float] = []
    for _ in range(200):
        vs = {n: torch.randint(0, 2, w.shape, generator=gen).double() * 2 - 1 for n, w in weights.items()}
        hvs = op.hvp(vs, joint=True)
        samples.append(float(sum((hvs[n] * vs[n]).sum() for n in LAYERS)))
    wrong, se = sum(samples) / len(samples), standard_error(samples)
    assert se > 0
    for n in LAYERS:
        assert not _accepts(wrong, se, float(torch.trace(h[blocks[n], blocks[n]])))
    assert _accepts(wrong, se, float(torch.trace(h)))  # it does estimate the full trace
    net.train()


@pytest.mark.parametrize("mode", ["per_layer", "joint"])
def test_stderr_of_two_probes_is_half_their_difference(problem: dict, mode: str) -> None:
    """With tol 0 the first probe is the same for k = 1 and k = 2, so t_2 = 2 mean_2 - t_1 and se = |t_1 - t_2|/2."""
    net, batch = problem["net"], problem["batch"]
    one = hessian_traces(net, batch, list(LAYERS), max_iter=1, tol=0.0, seed=3, mode=mode)
    two = hessian_traces(net, batch, list(LAYERS), max_iter=2, tol=0.0, seed=3, mode=mode)
    for n in LAYERS:
        t1 = one[n].trace_sum
        t2 = 2 * two[n].trace_sum - t1
        assert two[n].trace_sum_stderr == pytest.approx(abs(t1 - t2) / 2, rel=1e-9)
        assert math.isnan(one[n].trace_sum_stderr) and math.isnan(one[n].trace_stderr)
        assert one[n].as_dict()["trace_stderr"] is None and one[n].as_dict()["trace_sum_stderr"] is None


def test_standard_error_formula() -> None:
    values = [1.5, -2.0, 0.25, 4.0, 3.0]
    assert standard_error(values) == pytest.approx(statistics.stdev(values) / math.sqrt(len(values)))
    assert standard_error([2.0, 2.0, 2.0]) == 0.0
    assert math.isnan(standard_error([1.0])) and math.isnan(standard_error([]))
    trace = LayerTrace("x", 0.5, 5.0, 10, 4, False, trace_stderr=0.01, trace_sum_stderr=0.1)
    assert trace.as_dict()["trace_stderr"] == 0.01 and trace.as_dict()["trace_sum_stderr"] == 0.1


def test_joint_is_the_default_everywhere() -> None:
    """Changed: the default used to be per_layer; the one-product estimator (joint) is the default now."""
    assert hessian.DEFAULT_MODE == "joint" and set(hessian.MODES) == {"joint", "per_layer", "ggn"}
    assert inspect.signature(hessian_traces).parameters["mode"].default == "joint"
    for parser, argv in (
        (hessian.build_parser(), ["--arch", "a", "--data", "d", "--out", "o.json"]),
        (search.build_parser(), ["--arch", "a", "--data", "d", "--checkpoint", "c", "--kind", "bops",
                                 "--r", "0.5", "--out", "o.json"]),
    ):  # fmt: skip
        assert parser.parse_args(argv).mode == "joint"
        text = " ".join(parser.format_help().split())
        assert (
            "joint (default)" in text and "per_layer: the exact diagonal block" in text and "ggn: the" in text
        )


def test_cli_json_reports_stderr(tmp_path) -> None:
    common = ["--arch", "tiny_resnet", "--data", "digits", "--batch-size", "8", "--tol", "0",
              "--layers", "fc,layer4.0.conv2", "--device", "cpu"]  # fmt: skip
    out = tmp_path / "t.json"
    run_main(hessian.main, [*common, "--probes", "3", "--out", str(out)])
    data = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert data["settings"]["mode"] == "joint" and "trace_sum_stderr" in data["settings"]["stderr_key"]
    for entry in data["layers"].values():
        assert entry["probes"] == 3
        assert math.isfinite(entry["trace_sum_stderr"]) and entry["trace_sum_stderr"] > 0
        assert entry["trace_stderr"] == pytest.approx(entry["trace_sum_stderr"] / entry["numel"])
    out1 = tmp_path / "t1.json"
    run_main(hessian.main, [*common, "--probes", "1", "--mode", "per_layer", "--out", str(out1)])
    data1 = json.loads(out1.read_text())
    assert data1["settings"]["mode"] == "per_layer"
    for entry in data1["layers"].values():
        assert entry["probes"] == 1 and entry["trace_stderr"] is None and entry["trace_sum_stderr"] is None
