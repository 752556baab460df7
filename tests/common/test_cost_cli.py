"""``python -m common.cost``: table, JSON, bit-config input and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from bad_input import run_bad

from common.bitconfig import uniform_bitconfig, write_bitconfig
from common.cost.cli import main
from common.runtime import run_main


def test_table_output(capsys) -> None:
    assert main(["resnet18", "--bits", "4/4", "--convention", "hawq"]) == 0
    out = capsys.readouterr().out
    assert "layer1.0.conv1" in out and "size_MB = 5.81852" in out and "GBOPs = 34.7144" in out


def test_json_output(capsys) -> None:
    main(["resnet18", "--bits", "8/8", "--convention", "hawq", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["arch"] == "resnet18" and data["convention"] == "hawq"
    assert round(data["totals"]["GBOPs"]) == 116
    assert len(data["layers"]) == 21 and data["layers"][0] == {
        **data["layers"][0],
        "name": "conv1",
        "w": 8,
        "a": 8,
    }


def test_bit_config_input(tmp_path, capsys) -> None:
    path = write_bitconfig(uniform_bitconfig("resnet18", 4, 4, keep_first_last=8), tmp_path / "cfg.json")
    main(["--bit-config", str(path), "--convention", "hawq", "--json"])
    from_file = json.loads(capsys.readouterr().out)["totals"]
    main(["resnet18", "--bits", "4/4", "--convention", "hawq", "--json"])
    assert from_file == json.loads(capsys.readouterr().out)["totals"]


def test_input_size_changes_macs(capsys) -> None:
    main(["tiny_resnet", "--bits", "8/8", "--convention", "hawq", "--input-size", "64", "--json"])
    big = json.loads(capsys.readouterr().out)["totals"]["MACs"]
    main(["tiny_resnet", "--bits", "8/8", "--convention", "hawq", "--json"])
    small = json.loads(capsys.readouterr().out)["totals"]["MACs"]
    assert big == pytest.approx(4 * small, rel=0.01)


def test_list(capsys) -> None:
    main(["--list"])
    out = capsys.readouterr().out
    for name in ("hawq", "ompq", "haq_size", "haq_latency", "proqha", "hmq", "resnet18", "mobilenet_v1"):
        assert name in out


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "common.cost", *args], capture_output=True, text=True, timeout=120
    )


BAD = [
    (("resnet19", "--bits", "4/4"), "unknown model 'resnet19'"),
    (("resnet18", "--bits", "4/4", "--convention", "nope"), "unknown cost convention 'nope'"),
    (("resnet18", "--bits", "40/4"), "1..32"),
    (("resnet18", "--bits", "4/4", "--convention", "haq_latency"), "mobilenet_v2"),
    (("resnet18",), "--bits"),
    (("--bit-config", "/nonexistent.json"), "/nonexistent.json"),
]


@pytest.mark.parametrize(("args", "needle"), BAD)
def test_bad_input_exits_2_with_one_line(args, needle, capsys) -> None:
    """In this process through ``run_main``, the wrapper ``python -m common.cost`` calls (``__main__.py``)."""
    assert needle in run_bad(main, args, capsys)


def test_bad_input_from_the_command_line_is_one_line() -> None:
    """The same through ``python -m common.cost`` in a new process: exit 2, one stderr line, no traceback."""
    args, needle = BAD[0]
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and needle in result.stderr
    assert "Traceback" not in result.stderr


def test_bit_config_with_unknown_layer_names_it(tmp_path, capsys) -> None:
    cfg = uniform_bitconfig("resnet18", 4, 4).to_dict()
    cfg["layers"]["layer9.0.conv1"] = {"w": 4, "a": 4}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg))
    assert "layer9.0.conv1" in run_bad(main, ["--bit-config", str(path), "--convention", "hawq"], capsys)


def test_bad_bits_syntax_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        run_main(main, ["resnet18", "--bits", "four"])
    assert stop.value.code == 2 and "--bits" in capsys.readouterr().err
