"""OMPQ PTQ starts from BRECQ's released float weights, never torchvision's (issue 18 item 1)."""

from __future__ import annotations

import argparse

import pytest
import torch

from common.models import build_model
from common.models.pretrained import PretrainedWeightsError
from ompq.PTQ.main_imagenet import float_model


def test_missing_brecq_file_is_an_error_with_url(tmp_path, monkeypatch):
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path))
    args = argparse.Namespace(weights=None)
    with pytest.raises(PretrainedWeightsError) as err:
        float_model("mobilenet_v2", args, 1000, digits=False)
    message = str(err.value)
    assert "https://github.com/yhhhli/BRECQ/releases/download/v1.0/mobilenetv2.pth.tar" in message
    assert str(tmp_path / "brecq" / "mobilenetv2.pth.tar") in message


def test_brecq_resnet18_file_is_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path))
    (tmp_path / "brecq").mkdir()
    reference = build_model("resnet18", 1000)
    torch.save(reference.state_dict(), tmp_path / "brecq" / "resnet18_imagenet.pth.tar")  # a bare state dict
    model = float_model("resnet18", argparse.Namespace(weights=None), 1000, digits=False)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reference.state_dict().items())
    # the same file through --weights; a 10-class model cannot silently keep a random classifier
    with pytest.raises(PretrainedWeightsError, match="fc.weight"):
        float_model(
            "resnet18",
            argparse.Namespace(weights=str(tmp_path / "brecq" / "resnet18_imagenet.pth.tar")),
            10,
            True,
        )
