"""``python -m reproduce --only costs``: every published cost figure is exact or a documented deviation."""

from __future__ import annotations

import pytest

from reproduce.__main__ import main
from reproduce.cost_table import all_figures
from reproduce.figures import DEVIATION, EXACT, MISMATCH, Figure, round_half_up


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> list[dict]:
    return [fig.evaluate() for fig in all_figures(tmp_path_factory.mktemp("configs"))]


def test_no_mismatch(rows) -> None:
    assert [r for r in rows if r["status"] == MISMATCH] == []


def test_deviations_carry_a_reason(rows) -> None:
    assert all(r["reason"] for r in rows if r["status"] == DEVIATION)


# The figures the foundation issue lists, each of which must be exact at the paper's rounding.
REQUIRED_EXACT = [
    ("HAWQ-V3", "ResNet18 FP32", "size_MB"),
    ("HAWQ-V3", "ResNet18 FP32", "GBOPs"),
    ("HAWQ-V3", "ResNet18 W8A8", "size_MB"),
    ("HAWQ-V3", "ResNet18 W8A8", "GBOPs"),
    ("HAWQ-V3", "ResNet18 W4A4", "size_MB"),
    ("HAWQ-V3", "ResNet50 FP32", "GBOPs"),
    ("HAWQ-V3", "ResNet50 W8A8", "GBOPs"),
    ("HAWQ-V3", "ResNet50 W4A4", "size_MB"),
    ("HAWQ-V3", "ResNet50 W4A4", "GBOPs"),
    ("OMPQ", "bit_config_resnet18_modelsize_6.7_a8_97B", "GBOPs"),
    ("OMPQ", "bit_config_resnet18_modelsize_6.7_a6_75B", "GBOPs"),
    ("OMPQ", "bit_config_resnet18_modelsize_6.7_a8_97B", "size_Mb"),
    ("OMPQ", "bit_config_resnet50_modelsize_16.0_a5_141BOP", "size_Mb"),
    ("OMPQ", "bit_config_resnet50_modelsize_16.0_a5_141BOP", "GBOPs"),
    ("OMPQ", "bit_config_resnet50_modelsize_18.7_a5_156BOP", "size_Mb"),
    ("OMPQ", "bit_config_resnet50_modelsize_18.7_a5_156BOP", "GBOPs"),
    ("HAQ", "ResNet50 K-means README strategy", "size_ratio"),
    ("HAQ", "ResNet50 K-means finetune.py strategy", "size_ratio"),
    ("HAQ", "MobileNetV2 linear 0.6 strategy", "latency_ratio"),
    ("ProQHA", "ResNet18 W32A32", "cost"),
    ("ProQHA", "ResNet18 W5A5", "cost"),
    ("ProQHA", "ResNet18 W3A3", "cost"),
]


@pytest.mark.parametrize("key", REQUIRED_EXACT, ids=lambda k: " ".join(k))
def test_required_figures_are_exact(rows, key) -> None:
    (row,) = [r for r in rows if (r["paper"], r["item"], r["metric"]) == key]
    assert row["status"] == EXACT


def test_every_ompq_ptq_size_is_exact(rows) -> None:
    ptq = [r for r in rows if r["item"].startswith("PTQ_")]
    assert len(ptq) == 10 and all(r["status"] == EXACT for r in ptq)


def test_status_logic() -> None:
    def fig(value: float, bound: float | None = None, rounding: str = "half_up") -> str:
        return Figure("p", "i", "m", 5.0, 0, "cmd", lambda: value, bound, "why", rounding).evaluate()[
            "status"
        ]

    assert fig(5.4) == EXACT and fig(4.5) == EXACT
    assert fig(5.6) == MISMATCH and fig(5.6, bound=1.0) == DEVIATION
    assert fig(5.9, rounding="floor") == EXACT and fig(4.9, rounding="floor") == MISMATCH
    assert round_half_up(0.15625, 4) == 0.1563


def test_module_writes_tables_and_configs(tmp_path, capsys) -> None:
    assert main(["--only", "costs", "--out", str(tmp_path)]) == 0
    assert "MISMATCH" not in (tmp_path / "costs.md").read_text()
    assert (tmp_path / "costs.csv").read_text().startswith("paper,item,metric,published,ours")
    assert (tmp_path / "configs" / "haq_resnet50_haq_size.json").is_file()
    assert "cost figures:" in capsys.readouterr().out
