"""``python -m hawq.search``: Hessian traces -> ILP -> bit config on a registered model and digits."""

from __future__ import annotations

import pytest
import torch

from common.bitconfig import read_bitconfig
from common.models import build_model
from hawq.search import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    torch.save({"state_dict": build_model("tiny_resnet", num_classes=10).state_dict()}, path)
    return str(path)


@pytest.mark.parametrize("r", [0.0, 0.5])
def test_chain_writes_a_bitconfig(tmp_path, checkpoint, r) -> None:
    out = tmp_path / "cfg.json"
    argv = ["--arch", "tiny_resnet", "--data", "digits", "--checkpoint", checkpoint, "--kind", "bops"]
    argv += ["--r", str(r), "--out", str(out), "--batch-size", "8", "--probes", "2", "--mode", "joint"]
    assert main(argv) == 0
    cfg = read_bitconfig(out)
    assert (tmp_path / "cfg.traces.json").is_file()
    names = list(cfg.layers)
    searched = {cfg.layers[n].w for n in names[1:-1]}
    assert searched <= {4, 8}
    if r == 0.0:  # the budget is the all-4-bit cost
        assert searched == {4}
    ilp_costs = cfg.costs["ilp"]
    assert ilp_costs["cost"] <= ilp_costs["limit"] * (1 + 1e-9)
    assert cfg.layers[names[0]].w == 8 and cfg.layers[names[-1]].w == 8
    assert cfg.method == "hawq" and "GBOPs" in cfg.costs
