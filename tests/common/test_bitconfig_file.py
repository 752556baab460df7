"""The bit-config file format (contract 2): dataclasses, read/write round trip, atomic writes, errors."""

from __future__ import annotations

import json
import os

import pytest

from common.bitconfig import (
    FORMAT,
    VERSION,
    BitConfig,
    BitConfigError,
    LayerBits,
    arch_layer_names,
    read_bitconfig,
    uniform_bitconfig,
    validate,
    write_bitconfig,
)


def _err(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    return msg


@pytest.fixture
def r18() -> BitConfig:
    return uniform_bitconfig("resnet18", 4, 4, keep_first_last=8)


def test_uniform_bitconfig(r18: BitConfig) -> None:
    names = arch_layer_names("resnet18")
    assert len(names) == 21 and list(r18.layers) == names
    assert r18.arch == "resnet18" and r18.method == "uniform"
    assert r18.layers["conv1"] == LayerBits(8, 8) and r18.layers["fc"] == LayerBits(8, 8)
    assert all(r18.layers[n] == LayerBits(4, 4) for n in names[1:-1])
    plain = uniform_bitconfig("resnet18", 8, 32)
    assert set(plain.weight_bits().values()) == {8} and set(plain.act_bits().values()) == {32}
    assert (
        uniform_bitconfig("mobilenetv2", 8, 8).arch == "mobilenet_v2"
    )  # aliases resolve to the canonical name


def test_weight_and_act_bits(r18: BitConfig) -> None:
    r18.layers["layer1.0.conv1"] = LayerBits(3, 5)
    assert r18.weight_bits()["layer1.0.conv1"] == 3 and r18.act_bits()["layer1.0.conv1"] == 5
    assert list(r18.weight_bits()) == list(r18.layers)


def test_write_read_round_trip(tmp_path, r18: BitConfig) -> None:
    r18.layers["layer2.0.conv1"] = LayerBits(2, 3, {"threshold": 0.125, "note": "hmq"})
    r18.costs = {"size_MiB": 5.819, "BOPs_G": {"value": 34.71, "convention": "hawq"}}
    r18.extra = {"hawq": {"keys": ["a", "b"]}, "a_bits": 4}
    r18.source = "test: uniform W4A4 with 8-bit first/last"
    r18.num_classes = 1000
    path = write_bitconfig(r18, tmp_path / "cfg.json")
    assert read_bitconfig(path) == r18
    data = json.loads(path.read_text())
    assert data["format"] == FORMAT and data["version"] == VERSION and data["arch"] == "resnet18"
    assert data["layers"]["layer2.0.conv1"] == {"w": 2, "a": 3, "threshold": 0.125, "note": "hmq"}
    assert "input_size" not in data  # optional fields are written only when set
    assert BitConfig.from_dict(r18.to_dict()) == r18


def test_round_trip_sizes(tmp_path) -> None:
    cfg = uniform_bitconfig("tiny_resnet", 6, 6, num_classes=7, input_size=(32, 48))
    path = write_bitconfig(cfg, tmp_path / "sub" / "tiny.json")  # parent folders are created
    back = read_bitconfig(path)
    assert back == cfg and back.input_size == (32, 48) and back.num_classes == 7


def test_atomic_write_leaves_no_temp_file(tmp_path, r18: BitConfig) -> None:
    write_bitconfig(r18, tmp_path / "a.json")
    write_bitconfig(r18, tmp_path / "a.json")  # overwriting is fine
    assert sorted(os.listdir(tmp_path)) == ["a.json"]


def test_failed_validation_creates_nothing(tmp_path, r18: BitConfig) -> None:
    del r18.layers["fc"]
    with pytest.raises(BitConfigError):
        write_bitconfig(r18, tmp_path / "out" / "bad.json")
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_old_file(tmp_path, r18: BitConfig, monkeypatch) -> None:
    target = tmp_path / "cfg.json"
    write_bitconfig(r18, target)
    before = target.read_text()
    r18.layers["conv1"] = LayerBits(2, 2)

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_bitconfig(r18, target)
    monkeypatch.undo()
    assert target.read_text() == before and sorted(os.listdir(tmp_path)) == ["cfg.json"]
    r18.extra = {"not_json": object()}
    with pytest.raises(BitConfigError, match="cannot write"):
        write_bitconfig(r18, target)
    assert target.read_text() == before and sorted(os.listdir(tmp_path)) == ["cfg.json"]


def test_unknown_layer_named(r18: BitConfig) -> None:
    r18.layers["layer9.0.conv1"] = LayerBits(4, 4)
    with pytest.raises(BitConfigError) as e:
        validate(r18)
    assert "unknown layer" in _err(e) and "'layer9.0.conv1'" in _err(e)


def test_missing_layers_named(r18: BitConfig) -> None:
    del r18.layers["fc"]
    with pytest.raises(BitConfigError) as e:
        validate(r18)
    assert "missing layer" in _err(e) and "'fc'" in _err(e)
    for name in list(r18.layers)[:10]:
        del r18.layers[name]
    with pytest.raises(BitConfigError) as e:
        validate(r18)
    assert "and 6 more" in _err(e)


@pytest.mark.parametrize("bad", [0, 33, -1, 4.0, True, "8", None])
@pytest.mark.parametrize("field", ["w", "a"])
def test_bad_bits_named(r18: BitConfig, field: str, bad) -> None:
    setattr(r18.layers["layer3.1.conv2"], field, bad)
    with pytest.raises(BitConfigError) as e:
        validate(r18)
    msg = _err(e)
    assert "'layer3.1.conv2'" in msg and f"{field}={bad!r}" in msg


def test_all_problems_in_one_line(r18: BitConfig) -> None:
    r18.layers["bogus"] = LayerBits(4, 4)
    del r18.layers["conv1"]
    r18.layers["fc"].w = 64
    with pytest.raises(BitConfigError) as e:
        validate(r18)
    msg = _err(e)
    assert "'bogus'" in msg and "'conv1'" in msg and "'fc'" in msg


def test_validate_against_given_layers(r18: BitConfig) -> None:
    names = list(r18.layers)
    validate(r18, names)
    with pytest.raises(BitConfigError, match="'extra_layer'"):
        validate(r18, [*names, "extra_layer"])


def test_unknown_arch_lists_known() -> None:
    cfg = BitConfig(arch="resnet999", layers={"conv1": LayerBits(8, 8)})
    with pytest.raises(BitConfigError) as e:
        validate(cfg)
    msg = _err(e)
    assert "resnet999" in msg and "resnet18" in msg and "mobilenet_v2" in msg
    with pytest.raises(BitConfigError, match="resnet999"):
        uniform_bitconfig("resnet999", 8, 8)


def test_bad_files_name_the_file(tmp_path, r18: BitConfig) -> None:
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"format": "mpq-bitconfig",')
    with pytest.raises(BitConfigError) as e:
        read_bitconfig(bad_json)
    assert str(bad_json) in _err(e) and "JSON" in _err(e)

    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**r18.to_dict(), "format": "something-else"}))
    with pytest.raises(BitConfigError) as e:
        read_bitconfig(wrong)
    assert str(wrong) in _err(e) and "format" in _err(e)

    with pytest.raises(BitConfigError) as e:
        read_bitconfig(tmp_path / "absent.json")
    assert "absent.json" in _err(e)

    d = r18.to_dict()
    d["layers"]["layer4.1.conv1"]["w"] = 0
    bad_bits = tmp_path / "bits.json"
    bad_bits.write_text(json.dumps(d))
    with pytest.raises(BitConfigError) as e:
        read_bitconfig(bad_bits)
    assert str(bad_bits) in _err(e) and "'layer4.1.conv1'" in _err(e)


@pytest.mark.parametrize(
    "patch, needle",
    [
        ({"version": 2}, "version"),
        ({"version": "1"}, "version"),
        ({"layer": {}}, "'layer'"),
        ({"arch": 18}, "arch"),
        ({"layers": [1, 2]}, "layers"),
        ({"costs": [1]}, "costs"),
        ({"method": 3}, "method"),
    ],
)
def test_structure_errors(r18: BitConfig, patch: dict, needle: str) -> None:
    with pytest.raises(BitConfigError) as e:
        BitConfig.from_dict({**r18.to_dict(), **patch})
    assert needle in _err(e)


def test_layer_entry_errors(r18: BitConfig) -> None:
    d = r18.to_dict()
    d["layers"]["layer1.1.conv1"] = {"w": 4}
    with pytest.raises(BitConfigError) as e:
        BitConfig.from_dict(d)
    assert "'layer1.1.conv1'" in _err(e) and "'a'" in _err(e)
    d["layers"]["layer1.1.conv1"] = 4
    with pytest.raises(BitConfigError, match="'layer1.1.conv1'"):
        BitConfig.from_dict(d)
    with pytest.raises(BitConfigError):
        BitConfig.from_dict([1, 2])


def test_bad_num_classes_and_input_size(r18: BitConfig) -> None:
    r18.num_classes = 0
    with pytest.raises(BitConfigError, match="num_classes"):
        validate(r18)
    r18.num_classes = None
    r18.input_size = "224"
    with pytest.raises(BitConfigError, match="input_size"):
        validate(r18)
