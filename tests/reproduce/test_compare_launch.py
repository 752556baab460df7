"""The methods' own steps under torchrun (reproduce.compare.launch): which steps go there, with which batch,
synchronisation and autocast flags. That each entrypoint on 2 gloo processes equals one process is
tests/common/test_ddp_entrypoints.py; a benchmark fine-tune on torchrun against one process is
tests/reproduce/test_compare_arch.py::test_torchrun_two_processes_match_one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reproduce.compare import launch
from reproduce.compare.budget import Budget, bench_layers
from reproduce.compare.method import Context, Recipe
from reproduce.compare.methods import load_method


def _ctx(checkpoint: Path = Path("float.pth.tar"), **kw) -> Context:
    layers = bench_layers("tiny_resnet", 32, 10)
    budget = Budget()
    return Context(
        "tiny_resnet", "digits", 32, 10, checkpoint, budget, layers, budget.limits(layers), Recipe(batch_size=64),
        quick=True, effort="smoke", **kw,
    )  # fmt: skip


def _value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.mark.parametrize(
    ("nproc", "torchrun_args", "world"),
    [(1, (), 1), (2, (), 2), (4, ("--nnodes", "2"), 8), (2, ("--nnodes=3", "--node-rank", "0"), 6)],
)
def test_world_size_counts_nodes(nproc: int, torchrun_args: tuple[str, ...], world: int) -> None:
    ctx = _ctx(nproc=nproc, torchrun_args=torchrun_args)
    assert launch.world_size(ctx) == world
    assert launch.distributed(ctx) == (world > 1 or bool(torchrun_args))


def test_per_process_batch_splits_the_global_batch_evenly() -> None:
    assert launch.per_process_batch(_ctx(), 64) == 64
    assert launch.per_process_batch(_ctx(nproc=4), 64) == 16
    with pytest.raises(ValueError, match="does not split over 3 processes"):
        launch.per_process_batch(_ctx(nproc=3), 64)
    with pytest.raises(ValueError, match="fixed node count"):
        launch.world_size(_ctx(nproc=2, torchrun_args=("--nnodes", "1:4")))


def test_run_step_runs_here_or_builds_the_torchrun_command(monkeypatch: pytest.MonkeyPatch) -> None:
    assert launch.run_step(_ctx(), "m", ["--a"], lambda argv: ("ran", argv)) == ("ran", ["--a"])
    seen = []

    class Done:
        returncode = 0

    monkeypatch.setattr(launch.subprocess, "run", lambda cmd, check: seen.append(cmd) or Done())
    assert (
        launch.run_step(_ctx(nproc=2), "haq.finetune", ["--x"], lambda argv: pytest.fail("ran here")) is None
    )
    assert seen[0][1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "haq.finetune", "--x"]  # fmt: skip
    Done.returncode = 1
    with pytest.raises(RuntimeError, match="torchrun haq.finetune exited 1"):
        launch.run_step(_ctx(nproc=2), "haq.finetune", ["--x"], lambda argv: None)


def test_per_process_flags_of_each_fine_tune_on_two_processes(tmp_path: Path) -> None:
    """HAQ, HMQ and ProQHA (train.py and search.py) take a per-process batch (half the recipe's 64) and their
    --sync-bn; OMPQ's -b is global
    and gets --sync_bn --sync_act_range; one process keeps the recipe's batch and no sync flag (HMQ always has
    its sync flags: --sync-noise makes its Gumbel noise the same on 1 and N processes)."""
    from reproduce.compare.methods import hmq

    one, two = _ctx(), _ctx(nproc=2)
    cfg, out = tmp_path / "b.json", tmp_path / "out"
    haq, ompq, proqha = load_method("haq"), load_method("ompq"), load_method("proqha")
    for ctx, batch, synced in ((one, "64", False), (two, "32", True)):
        argv = haq.finetune_argv(ctx, cfg, out)
        assert _value(argv, "--train_batch") == batch and ("--sync-bn" in argv) == synced
        argv = proqha.finetune_argv(ctx, cfg, out)
        assert _value(argv, "--train_batch_size") == batch and ("--sync-bn" in argv) == synced
        argv = proqha.baseline_argv(ctx, out)
        assert _value(argv, "--train_batch_size") == batch and ("--sync-bn" in argv) == synced
        argv = proqha.search_argv(ctx, cfg, out)  # its scoring batch is the global batch again
        assert _value(argv, "--train_batch_size") == batch and ("--sync-bn" in argv) == synced
        assert _value(hmq.finetune_argv(ctx, cfg, out), "--batch_size") == batch
        argv = ompq.finetune_argv(ctx, cfg, out)
        assert _value(argv, "--batch_size") == "64" and ("--sync_bn" in argv) == synced
        assert ("--sync_act_range" in argv) == synced
    assert load_method("hmq").search_on_torchrun and proqha.search_on_torchrun and haq.search_on_torchrun
    table = tmp_path / "t.npy"
    for ctx, synced in (
        (one, False),
        (two, True),
    ):  # HAQ's search: --data_bsize global, --sync-bn under torchrun
        argv = haq.search_argv(ctx, table, 0.5, out)
        assert _value(argv, "--data_bsize") == "16" and ("--sync-bn" in argv) == synced
    with pytest.raises(ValueError, match="does not split over 3 processes"):
        haq.search_argv(_ctx(nproc=3), table, 0.5, out)
    hawq = load_method("hawq")  # its Hessian pass: a global --batch-size that must split over the processes
    assert hawq.search_on_torchrun and _value(hawq.hessian_argv(two, out / "t.json"), "--batch-size") == "8"
    with pytest.raises(ValueError, match="does not split over 3 processes"):
        hawq.hessian_argv(_ctx(nproc=3), out / "t.json")


def test_amp_reaches_every_own_step(tmp_path: Path) -> None:
    """--amp bf16: HAWQ-V3/OMPQ/HMQ/ProQHA get --amp bf16, HAQ its --half (bf16 autocast); none without it."""
    from reproduce.compare.common_qat import quant_train_argv
    from reproduce.compare.methods import hmq

    cfg, out = tmp_path / "b.json", tmp_path / "out"
    haq, ompq, proqha = load_method("haq"), load_method("ompq"), load_method("proqha")
    for amp in ("none", "bf16"):
        ctx = _ctx(amp=amp)
        on = amp == "bf16"
        assert ("--half" in haq.finetune_argv(ctx, cfg, out)) == on
        for argv in (
            ompq.finetune_argv(ctx, cfg, out),
            hmq.finetune_argv(ctx, cfg, out),
            proqha.finetune_argv(ctx, cfg, out),
            proqha.search_argv(ctx, cfg, out),
            quant_train_argv(ctx, cfg, out),
        ):
            assert (("--amp" in argv) and _value(argv, "--amp") == "bf16") == on


def _workers_of(argv: list[str]) -> str:
    flags = [f for f in ("--n_worker", "--num_workers", "--workers", "-j") if f in argv]
    assert len(flags) == 1, argv
    return _value(argv, flags[0])


def test_workers_reach_every_own_step_except_on_the_embedded_digits(tmp_path: Path) -> None:
    """--workers N: every method's own data-reading step (HAQ's search and fine-tune, HMQ, OMPQ's QAT, ProQHA's
    train/search, HAWQ-V3's Hessian pass) loads with N workers on real data (here CIFAR-10), and with none on
    the embedded digits, which live in memory and whose drawn images the orchestrator counts in its process."""
    from reproduce.compare.methods import hmq

    cfg, out = tmp_path / "b.json", tmp_path / "out"
    haq, ompq, proqha, hawq = (load_method(m) for m in ("haq", "ompq", "proqha", "hawq"))
    for data, want in (("cifar10:/data/cifar10", "6"), ("digits", "0")):
        ctx = dataclasses.replace(_ctx(workers=6), data=data)
        argvs = [
            haq.search_argv(ctx, tmp_path / "t.npy", 0.5, out), haq.finetune_argv(ctx, cfg, out),
            hmq.common_argv(ctx, out), ompq.finetune_argv(ctx, cfg, out), proqha.baseline_argv(ctx, out),
            proqha.search_argv(ctx, cfg, out), hawq.hessian_argv(ctx, out / "t.json"),
        ]  # fmt: skip
        assert [_workers_of(argv) for argv in argvs] == [want] * len(argvs), data
