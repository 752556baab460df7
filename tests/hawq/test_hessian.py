"""Per-layer Hessian traces (hawq.hessian) against the exact Hessian of a tiny network."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from common.runtime import UsageError, run_main
from hawq.hessian import (
    HessianOperator,
    _rademacher,
    hessian_top_eigenvalues,
    hessian_traces,
    main,
    probe_generator,
    select_layers,
)

LAYERS = ("conv", "fc")


class TinyNet(nn.Module):
    """conv(1->2, 3x3) -> BN -> tanh -> linear(32 -> 3): 18 + 96 weights, smooth everywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.bn(self.conv(x))).flatten(1))


def _net(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    net = TinyNet().double()
    with torch.no_grad():  # non-trivial running stats, so eval mode matters
        net.bn.running_mean.uniform_(-0.2, 0.2)
        net.bn.running_var.uniform_(0.5, 1.5)
        net.conv.weight.mul_(0.3)  # tanh near its linear range: the blocks are close to PSD
    return net


def _batch(seed: int = 1, n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 6, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


def _full_hessian(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], names=LAYERS) -> torch.Tensor:
    """Exact Hessian of the eval-mode CE loss w.r.t. the concatenated weights of ``names``."""
    net.eval()
    x, y = batch
    weights = {n: dict(net.named_modules())[n].weight.detach() for n in names}
    shapes = [w.shape for w in weights.values()]
    sizes = [w.numel() for w in weights.values()]
    params = dict(net.named_parameters())

    def loss(flat: torch.Tensor) -> torch.Tensor:
        parts = torch.split(flat, sizes)
        p = dict(params)
        for n, part, shape in zip(names, parts, shapes, strict=True):
            p[f"{n}.weight"] = part.reshape(shape)
        return nn.functional.cross_entropy(functional_call(net, p, (x,)), y)

    flat = torch.cat([w.reshape(-1) for w in weights.values()])
    return torch.autograd.functional.hessian(loss, flat)


def _blocks(h: torch.Tensor, net: nn.Module, names=LAYERS) -> dict[str, slice]:
    out, start = {}, 0
    for n in names:
        k = dict(net.named_modules())[n].weight.numel()
        out[n] = slice(start, start + k)
        start += k
    return out


@pytest.fixture(scope="module")
def exact() -> dict[str, object]:
    net, batch = _net(), _batch()
    h = _full_hessian(net, batch)
    net.train()
    return {"net": net, "batch": batch, "h": h, "blocks": _blocks(h, net)}


def test_hvp_is_exact(exact: dict) -> None:
    net, h, blocks = exact["net"], exact["h"], exact["blocks"]
    net.eval()
    weights = {n: dict(net.named_modules())[n].weight for n in LAYERS}
    op = HessianOperator(net, weights, [exact["batch"]], nn.CrossEntropyLoss(), torch.device("cpu"))
    g = torch.Generator().manual_seed(3)
    vs = {n: torch.randn(w.shape, generator=g, dtype=torch.float64) for n, w in weights.items()}
    flat_v = torch.cat([vs[n].reshape(-1) for n in LAYERS])
    per_layer = op.hvp(vs)
    joint = op.hvp(vs, joint=True)
    for n in LAYERS:
        s = blocks[n]
        torch.testing.assert_close(
            per_layer[n].reshape(-1), h[s, s] @ vs[n].reshape(-1), rtol=1e-9, atol=1e-12
        )
        torch.testing.assert_close(joint[n].reshape(-1), h[s, :] @ flat_v, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", ["per_layer", "joint"])
def test_trace_agrees_with_exact(exact: dict, mode: str) -> None:
    net, h, blocks = exact["net"], exact["h"], exact["blocks"]
    k = 2000
    net.train()
    res = hessian_traces(net, exact["batch"], max_iter=k, tol=0.0, seed=0, mode=mode)
    assert list(res) == list(LAYERS)
    assert net.training  # mode restored
    for n in LAYERS:
        s = blocks[n]
        hb = h[s, s]
        true = float(torch.trace(hb))
        # variance of one Rademacher probe: 2 * sum of squared off-diagonal entries (+ the cross
        # blocks' Frobenius norm in joint mode)
        var = 2 * float((hb**2).sum() - (torch.diagonal(hb) ** 2).sum())
        if mode == "joint":
            var += float((h[s, :] ** 2).sum() - (hb**2).sum())
        sigma = math.sqrt(var / k)
        est = res[n]
        assert est.probes == k and not est.converged
        assert est.numel == s.stop - s.start
        assert est.trace == pytest.approx(est.trace_sum / est.numel)
        assert abs(est.trace_sum - true) <= 5 * sigma + 1e-12, (n, est.trace_sum, true, sigma)
        # per layer: measured -0.2 % (conv) and -0.1 % (fc); joint: +3.4 % and +3.9 % (noisier, see docs)
        assert abs(est.trace_sum - true) <= (0.02 if mode == "per_layer" else 0.08) * abs(true), (
            n,
            est.trace_sum,
            true,
        )


def test_unbiased_over_seeds(exact: dict) -> None:
    """The mean of independent short runs approaches the exact trace (estimator unbiased).

    ``mode="per_layer"`` is explicit since the default became ``joint``; sigma below is per_layer's variance.
    """
    net, h, blocks = exact["net"], exact["h"], exact["blocks"]
    results = [
        hessian_traces(net, exact["batch"], ["fc"], max_iter=20, tol=0.0, seed=s, mode="per_layer")
        for s in range(40)
    ]
    runs = [r["fc"].trace_sum for r in results]
    s = blocks["fc"]
    hb = h[s, s]
    true = float(torch.trace(hb))
    sigma = math.sqrt(2 * float((hb**2).sum() - (torch.diagonal(hb) ** 2).sum()) / (20 * 40))
    assert abs(sum(runs) / len(runs) - true) <= 5 * sigma + 1e-12


def test_reproducible_and_seed_dependent(exact: dict) -> None:
    net, batch = exact["net"], exact["batch"]
    a = hessian_traces(net, batch, max_iter=10, tol=0.0, seed=7)
    b = hessian_traces(net, batch, max_iter=10, tol=0.0, seed=7)
    c = hessian_traces(net, batch, max_iter=10, tol=0.0, seed=8)
    assert a == b
    assert a["conv"].trace_sum != c["conv"].trace_sum
    assert a["fc"].trace_sum != c["fc"].trace_sum


def test_tolerance_stops_early(exact: dict) -> None:
    net, batch = exact["net"], exact["batch"]
    res = hessian_traces(net, batch, max_iter=500, tol=0.05, seed=0)
    for est in res.values():
        assert est.converged and 2 <= est.probes < 500
    full = hessian_traces(net, batch, max_iter=30, tol=0.0, seed=0)
    assert all(e.probes == 30 and not e.converged for e in full.values())


def test_restrict_layers_and_errors(exact: dict) -> None:
    net, batch = exact["net"], exact["batch"]
    res = hessian_traces(net, batch, ["fc"], max_iter=5, tol=0.0)
    assert list(res) == ["fc"] and res["fc"].numel == 96
    assert net.conv.weight.requires_grad and net.fc.weight.requires_grad  # flags restored
    with pytest.raises(UsageError, match="unknown layer 'nope'"):
        hessian_traces(net, batch, ["fc", "nope"])
    with pytest.raises(UsageError, match="not a conv or linear"):
        select_layers(net, ["bn"])
    with pytest.raises(UsageError, match="mode"):
        hessian_traces(net, batch, mode="diag")
    with pytest.raises(UsageError, match="max_iter"):
        hessian_traces(net, batch, max_iter=0)


def test_several_batches_equal_one_big_batch() -> None:
    """Batch-size-weighted average of H_b v over batches = H v of the concatenated batch (same v)."""
    net = _net()
    (x1, y1), (x2, y2) = _batch(1, 8), _batch(2, 4)
    big = (torch.cat([x1, x2]), torch.cat([y1, y2]))
    ref = hessian_traces(net, big, max_iter=6, tol=0.0, seed=2)
    for keep in (True, False):
        got = hessian_traces(net, [(x1, y1), (x2, y2)], max_iter=6, tol=0.0, seed=2, retain_graphs=keep)
        for n in LAYERS:
            assert got[n].trace_sum == pytest.approx(ref[n].trace_sum, rel=1e-9, abs=1e-12)
    one = hessian_traces(net, [(x1, y1), (x2, y2)], max_iter=6, tol=0.0, seed=2, max_batches=1)
    first = hessian_traces(net, (x1, y1), max_iter=6, tol=0.0, seed=2)
    assert one == first


def test_top_eigenvalue_power_iteration(exact: dict) -> None:
    net, h, blocks = exact["net"], exact["h"], exact["blocks"]
    res = hessian_top_eigenvalues(net, exact["batch"], max_iter=300, tol=1e-8, seed=0)
    for n in LAYERS:
        s = blocks[n]
        eig = torch.linalg.eigvalsh(h[s, s])
        top = float(eig[eig.abs().argmax()])
        assert res[n].eigenvalue == pytest.approx(top, rel=1e-3)


def _cli(argv: list[str]) -> dict:
    return run_main(main, argv)


def test_cli_end_to_end(tmp_path) -> None:
    from common.layers import enumerate_layers
    from common.models import build_model

    out = tmp_path / "traces.json"
    _cli(["--arch", "tiny_resnet", "--data", "digits", "--batch-size", "16", "--batches", "1",
          "--probes", "2", "--mode", "joint", "--device", "cpu", "--out", str(out)])  # fmt: skip
    data = json.loads(out.read_text())
    assert data["arch"] == "tiny_resnet" and data["input_size"] == 32
    assert data["settings"]["batch_size"] == 16 and data["settings"]["samples"] == 16
    names = [info.name for info in enumerate_layers(build_model("tiny_resnet", num_classes=10), 32)]
    assert list(data["layers"]) == names
    for entry in data["layers"].values():
        assert entry["probes"] == 2
        assert entry["trace"] == pytest.approx(entry["trace_sum"] / entry["numel"])
        assert math.isfinite(entry["trace"])


def test_cli_checkpoint_and_errors(tmp_path, capsys) -> None:
    from common.models import build_model

    common = ["--arch", "tiny_resnet", "--data", "digits", "--batch-size", "8", "--probes", "3",
              "--tol", "0", "--layers", "fc,layer4.0.conv2", "--device", "cpu"]  # fmt: skip
    torch.manual_seed(5)
    model = build_model("tiny_resnet", num_classes=10)
    with torch.no_grad():
        model.fc.weight.mul_(4.0)
    ckpt = tmp_path / "model.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, ckpt)
    a = _cli([*common, "--checkpoint", str(ckpt), "--out", str(tmp_path / "a.json")])
    b = _cli([*common, "--checkpoint", str(ckpt), "--out", str(tmp_path / "b.json")])
    c = _cli([*common, "--out", str(tmp_path / "c.json")])
    assert list(a["layers"]) == ["fc", "layer4.0.conv2"]
    assert a["layers"] == b["layers"]  # reproducible
    assert a["layers"]["fc"]["trace_sum"] != c["layers"]["fc"]["trace_sum"]  # the weights were loaded

    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, bad)
    for extra, msg in (
        (["--checkpoint", str(bad)], "does not fit"),
        (["--checkpoint", str(tmp_path / "missing.pth")], "not found"),
        (["--layers", "nope"], "unknown layer 'nope'"),
        (["--probes", "0"], "--probes must be >= 1"),
    ):
        out = tmp_path / "x.json"
        argv = [a for a in common if a not in ("--layers", "fc,layer4.0.conv2")]
        with pytest.raises(SystemExit) as exc:
            _cli([*argv, *extra, "--out", str(out)])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and msg in err and "\n" not in err
        assert not out.exists()


def test_probes_one_draw_equals_one_draw_per_layer() -> None:
    """All layers' signs come from one CPU randint; the CPU generator fills serially, so this is the same as
    drawing each layer in turn (the probes, and so every earlier CPU result, are unchanged)."""
    likes = {"a": torch.zeros(3, 4), "b": torch.zeros(7), "c": torch.zeros(2, 5, 3, dtype=torch.float64)}
    got = _rademacher(likes, torch.Generator().manual_seed(11))
    gen = torch.Generator().manual_seed(11)
    for name, like in likes.items():
        bits = torch.randint(0, 2, tuple(like.shape), generator=gen, dtype=torch.int8)
        want = bits.to(like.dtype) * 2 - 1
        assert got[name].dtype == like.dtype and torch.equal(got[name], want)


def test_probe_rng_choice(exact: dict) -> None:
    net, batch = exact["net"], exact["batch"]
    ref = hessian_traces(net, batch, max_iter=4, tol=0.0, seed=5, probe_rng="cpu")
    for rng in ("auto", "device"):  # on a CPU model the device generator is the CPU one
        assert hessian_traces(net, batch, max_iter=4, tol=0.0, seed=5, probe_rng=rng) == ref
    assert probe_generator(0, torch.device("cpu"), "auto").device.type == "cpu"
    with pytest.raises(UsageError, match="probe_rng"):
        hessian_traces(net, batch, max_iter=2, probe_rng="gpu")
