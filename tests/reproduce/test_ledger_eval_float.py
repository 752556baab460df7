"""``python -m reproduce.eval_float``: the float-baseline evaluation command (issue 18 item 5)."""

from __future__ import annotations

import json

import pytest
import torch

from common.data import build_datasets
from common.runtime import run_main
from hawq.utils.models import build_float_model
from reproduce import eval_float


def test_top1_top5_of_a_known_classifier(tmp_path) -> None:
    """A network whose logits ignore the image ranks the classes by its bias: its accuracy is a label count."""
    c = 3
    model = build_float_model("tiny_resnet", 10)
    state = model.state_dict()
    state["fc.weight"] = torch.zeros_like(state["fc.weight"])
    state["fc.bias"] = -torch.tensor([float((j - c) % 10) for j in range(10)])
    torch.save(state, tmp_path / "w.pth")
    res = eval_float.main(["--paper", "hawq", "-a", "tiny_resnet", "--data", "digits", "--weights",
                           str(tmp_path / "w.pth"), "--workers", "0", "--device", "cpu", "--out", str(tmp_path)])  # fmt: skip
    _, val, _ = build_datasets("digits", preset="digits", image_size=32)
    labels = [int(val[i][1]) for i in range(len(val))]
    top5 = {(c + k) % 10 for k in range(5)}
    assert res["images"] == len(labels)
    assert res["top1"] == pytest.approx(100 * sum(y == c for y in labels) / len(labels))
    assert res["top5"] == pytest.approx(100 * sum(y in top5 for y in labels) / len(labels))
    assert json.loads((tmp_path / "final.json").read_text())["top1"] == pytest.approx(res["top1"])


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--paper", "haq", "-a", "qmobilenet", "--data", "digits"], "quantized HAQ model"),
        (["--paper", "hawq", "-a", "tiny_resnet", "--data", "digits"], "published weights have 1000 classes"),
        (["--paper", "hawq", "-a", "tiny_resnet", "--data", "/nonexistent"], "no val/ folder"),
        (["--paper", "hmq", "-a", "no_such_net", "--data", "digits"], "unknown model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], needle: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        run_main(eval_float.main, argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and needle in err and len(err.strip().splitlines()) == 1
