"""HAWQ's KD teacher starts from pytorchcv's file, as the original's ``get_model(teacher_arch, pretrained=True)``:
never torchvision's weights; a missing file, an arch without one, or another class count is one line, exit 2."""

from __future__ import annotations

import argparse
import re

import pytest
import torch
from torchvision import models as tv

from common.runtime import run_main
from hawq.quant_train import build_teacher


def _args(arch: str, **kw) -> argparse.Namespace:
    base = {
        "distill_method": "KD_naive",
        "teacher_arch": arch,
        "teacher_checkpoint": None,
        "pretrained": True,
    }
    return argparse.Namespace(**{**base, **kw})


def _exit_line(capsys, *call) -> str:
    with pytest.raises(SystemExit) as stop:
        run_main(*call)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0]


def _to_pytorchcv(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision ResNet-18 names -> pytorchcv's (written here by hand, independent of our converter)."""
    out = {}
    for key, value in state.items():
        new = re.sub(r"^conv1\.", "features.init_block.conv.conv.", key)
        new = re.sub(r"^bn1\.", "features.init_block.conv.bn.", new)
        found = re.match(r"^layer(\d)\.(\d)\.(.+)$", new)
        if found:
            stage, unit, rest = found.groups()
            rest = re.sub(r"^conv(\d)\.", r"body.conv\1.conv.", rest)
            rest = re.sub(r"^bn(\d)\.", r"body.conv\1.bn.", rest)
            rest = rest.replace("downsample.0.", "identity_conv.conv.").replace(
                "downsample.1.", "identity_conv.bn."
            )
            new = f"features.stage{stage}.unit{int(unit) + 1}.{rest}"
        out[re.sub(r"^fc\.", "output.", new)] = value
    return out


def test_missing_teacher_file_names_file_and_url(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path))
    line = _exit_line(capsys, build_teacher, _args("resnet18"), 1000)
    assert str(tmp_path / "pytorchcv" / "resnet18.pth") in line
    assert "https://github.com/osmr/imgclsmob/releases" in line


def test_teacher_loads_pytorchcv_file(tmp_path, monkeypatch) -> None:
    torch.manual_seed(0)
    ref = tv.resnet18().eval()
    for m in ref.modules():  # non-trivial BN statistics, so a BN left at its defaults would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1), m.running_var.uniform_(0.5, 1.5)
    (tmp_path / "pytorchcv").mkdir()
    torch.save(_to_pytorchcv(ref.state_dict()), tmp_path / "pytorchcv" / "resnet18.pth")
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path))
    teacher = build_teacher(_args("resnet18"), 1000)
    assert not teacher.training
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(teacher(x), ref(x), rtol=0, atol=0)


def test_teacher_of_other_class_count_or_without_file_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path))
    line = _exit_line(capsys, build_teacher, _args("resnet18"), 10)
    assert "1000-class" in line and "10 classes" in line and "--teacher-checkpoint" in line
    line = _exit_line(capsys, build_teacher, _args("tiny_resnet"), 10)
    assert "no published pytorchcv weights" in line and "--teacher-checkpoint" in line


def test_teacher_without_weights_warns(capsys) -> None:
    teacher = build_teacher(_args("tiny_resnet", pretrained=False), 10)
    assert teacher is not None
    assert "random initialisation" in capsys.readouterr().err
