"""``hmq.networks.build_hmq_network(..., pretrained=True)`` starts EfficientNet-B0 from HMQ's own file (renamed,
with HMQ's BN eps), never torchvision's B0; a missing file is one line, exit 2, naming the file and its URL."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn
from torchvision import models as tv

from common.runtime import run_main
from hmq.block import HmqControl
from hmq.networks import build_hmq_network

# torchvision B0 name -> HMQ's EfficientNet name, written out here from HMQ's module layout
_TO_HMQ = (
    (r"^features\.0\.0\.(.+)$", r"conv_blocks.0.0.conv.\1"),
    (r"^features\.0\.1\.(.+)$", r"conv_blocks.0.0.bn.\1"),
    (r"^features\.8\.0\.(.+)$", r"conv_head.0.conv.\1"),
    (r"^features\.8\.1\.(.+)$", r"conv_head.0.bn.\1"),
    (r"^features\.(\d)\.(\d)\.block\.(\d)\.0\.(.+)$", r"conv_blocks.\1.blocks.\2.conv.\3.0.conv.\4"),
    (r"^features\.(\d)\.(\d)\.block\.(\d)\.1\.(.+)$", r"conv_blocks.\1.blocks.\2.conv.\3.0.bn.\4"),
    (
        r"^features\.(\d)\.(\d)\.block\.(\d)\.fc1\.(.+)$",
        r"conv_blocks.\1.blocks.\2.conv.\3.conv_reduce.0.conv.\4",
    ),
    (
        r"^features\.(\d)\.(\d)\.block\.(\d)\.fc2\.(.+)$",
        r"conv_blocks.\1.blocks.\2.conv.\3.conv_expand.0.conv.\4",
    ),
    (r"^classifier\.1\.(.+)$", r"fc.fc.\1"),
)


def _to_hmq(key: str) -> str:
    for pattern, target in _TO_HMQ:
        if re.match(pattern, key):
            return re.sub(pattern, target, key)
    raise AssertionError(f"no HMQ name for {key}")


def test_missing_efficientnet_file_is_one_line_with_url(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as stop:
        run_main(build_hmq_network, "efficient_net", 1000, HmqControl(), pretrained=True)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and err[0].startswith("error: ")
    assert str(tmp_path / "hmq" / "EfficientNet_B0_IMAGENET.pt") in err[0]
    assert (
        "https://github.com/sony-si/ai-research/raw/master/HMQ/models/EfficientNet_B0_IMAGENET.pt" in err[0]
    )


def test_efficientnet_starts_from_hmq_file(tmp_path, monkeypatch) -> None:
    torch.manual_seed(0)
    ref = tv.efficientnet_b0().state_dict()
    (tmp_path / "hmq").mkdir()
    torch.save({_to_hmq(k): v for k, v in ref.items()}, tmp_path / "hmq" / "EfficientNet_B0_IMAGENET.pt")
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path))
    model = build_hmq_network("efficient_net", 1000, HmqControl(), pretrained=True)
    own = model.state_dict()
    for key, value in ref.items():
        assert torch.equal(own[key], value), key
    assert {m.eps for m in model.modules() if isinstance(m, nn.BatchNorm2d)} == {1e-3}
    with pytest.raises(ValueError, match="1000-class ImageNet network, not 10 classes"):
        build_hmq_network("efficient_net", 10, HmqControl(), pretrained=True)
