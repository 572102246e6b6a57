"""loads / load / dumps / dump and the converter, on real files."""

from __future__ import annotations

import json
import os
import pickle
import stat
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from cattrs.errors import ClassValidationError

import quantparams
import quantparams._precise
from documents import EXAMPLE
from quantparams import (
    KVCacheQuantSchema,
    ParseError,
    QuantParamSchema,
    RankScales,
    StructureError,
    ValidationError,
    converter,
)


def _doc(scales: dict[int, dict[int, float]]) -> QuantParamSchema:
    return QuantParamSchema("llama", KVCacheQuantSchema("float8_e4m3fn", scales))


@pytest.mark.usefixtures("loading_path")
def test_example_file_loads_for_every_rank() -> None:
    for rank in (0, 1):
        schema = quantparams.load(EXAMPLE, quantparams.ValidationContext(2, rank, 32, "llama"))
    assert len(schema.kv_cache.scaling_factor[1]) == 32


@pytest.mark.usefixtures("loading_path")
def test_loads_accepts_str_bytearray_and_memoryview() -> None:
    data = EXAMPLE.read_bytes()
    expected = quantparams.loads(data)
    assert quantparams.loads(data.decode()) == expected
    assert quantparams.loads(bytearray(data)) == expected
    assert quantparams.loads(memoryview(data)) == expected


def test_each_run_takes_the_loading_path_it_names(loading_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = quantparams._precise.load_precise
    calls = []

    def counted(*args: Any, **kwargs: Any) -> QuantParamSchema:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(quantparams._precise, "load_precise", counted)
    # The example is the usual sound file: the fast path reads it whole.
    assert quantparams.load(EXAMPLE) == real(EXAMPLE.read_bytes())
    assert len(calls) == {"fast": 0, "precise": 1}[loading_path]


def test_loads_of_something_not_text_is_a_type_error() -> None:
    # A programming error, as in the json module and tomli: not a QuantParamError.
    for value in (42, None, ["{}"]):
        with pytest.raises(TypeError, match="loads expects bytes, bytearray, memoryview or str, got "):
            quantparams.loads(value)  # type: ignore[arg-type]


@pytest.mark.usefixtures("loading_path")
def test_lone_surrogate_in_str() -> None:
    with pytest.raises(ParseError) as caught:
        quantparams.loads('{"model_type": "\ud800"}')
    assert str(caught.value) == "$: not valid UTF-8: surrogates not allowed at byte 16"


@pytest.mark.usefixtures("loading_path")
def test_validate_false_skips_the_checks_but_not_the_structure() -> None:
    bad_values = b'{"model_type": null, "kv_cache": {"dtype": "x", "scaling_factor": {"0": {"0": -1}}}}'
    schema = quantparams.loads(
        bad_values, {"tp_size": 4, "tp_rank": 0, "num_hidden_layers": 2}, validate=False
    )
    assert schema.kv_cache.scaling_factor[0][0] == -1.0
    with pytest.raises(StructureError):
        quantparams.loads(b'{"model_type": null}', validate=False)


def test_dumps_writes_keys_in_numeric_order() -> None:
    scales = {r: {layer: 0.5 + layer for layer in (10, 9, 2, 0, 1)} for r in (11, 2, 10, 0, 1)}
    text = quantparams.dumps(_doc(scales))
    raw = json.loads(text)
    assert list(raw["kv_cache"]["scaling_factor"]) == ["0", "1", "2", "10", "11"]
    assert list(raw["kv_cache"]["scaling_factor"]["10"]) == ["0", "1", "2", "9", "10"]


@pytest.mark.usefixtures("loading_path")
def test_dumps_of_a_loaded_file_reproduces_its_values() -> None:
    schema = quantparams.load(EXAMPLE)
    assert json.loads(quantparams.dumps(schema)) == json.loads(EXAMPLE.read_bytes())
    assert quantparams.dumps(schema) == orjson.dumps(json.loads(EXAMPLE.read_bytes()))


def test_dumps_refuses_what_could_not_be_read_back() -> None:
    with pytest.raises(ValidationError, match="got NaN"):
        quantparams.dumps(_doc({0: {0: float("nan")}}))


@pytest.mark.usefixtures("loading_path")
def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    schema = _doc({0: {0: 0.1, 1: 1e-300}, 1: {0: 3.0, 1: 123456.789}})
    target = tmp_path / "scales.json"
    quantparams.dump(schema, target)
    assert quantparams.load(target) == schema
    assert os.listdir(tmp_path) == ["scales.json"]


@pytest.mark.usefixtures("loading_path")
def test_dump_replaces_and_keeps_permission_bits(tmp_path: Path) -> None:
    target = tmp_path / "scales.json"
    target.write_text("old")
    target.chmod(0o640)
    quantparams.dump(_doc({0: {0: 0.5}}), target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert quantparams.load(target) == _doc({0: {0: 0.5}})


def test_dump_failing_mid_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "scales.json"
    quantparams.dump(_doc({0: {0: 0.5}}), target)
    old = target.read_bytes()
    real_write = os.write
    calls = []

    def failing_write(fd: int, data: Any) -> int:
        # Write part of the data, then fail as a full disk would.
        calls.append(fd)
        if len(calls) == 1:
            return real_write(fd, bytes(data)[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", failing_write)
    big = _doc({r: {layer: 0.001 * (layer + 1) for layer in range(100)} for r in range(4)})
    with pytest.raises(OSError, match="No space left"):
        quantparams.dump(big, target)
    monkeypatch.undo()
    assert len(calls) == 2
    assert target.read_bytes() == old
    assert os.listdir(tmp_path) == ["scales.json"]


def test_dump_of_an_invalid_document_touches_nothing(tmp_path: Path) -> None:
    target = tmp_path / "scales.json"
    target.write_text("keep me")
    with pytest.raises(ValidationError):
        quantparams.dump(_doc({0: {0: 0.0}}), target)
    assert target.read_text() == "keep me"
    assert os.listdir(tmp_path) == ["scales.json"]


@pytest.mark.usefixtures("loading_path")
def test_load_of_a_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        quantparams.load(tmp_path / "absent.json")


@pytest.mark.usefixtures("loading_path")
def test_converter_structures_and_unstructures() -> None:
    raw = json.loads(EXAMPLE.read_bytes())
    schema = converter.structure(raw, QuantParamSchema)
    assert schema == quantparams.load(EXAMPLE)
    unstructured = converter.unstructure(schema)
    assert unstructured == raw
    # The caller owns what it gets: changing it changes nothing inside.
    unstructured["kv_cache"]["scaling_factor"]["0"]["0"] = -5.0
    assert schema.kv_cache.scaling_factor[0][0] == raw["kv_cache"]["scaling_factor"]["0"]["0"]
    assert quantparams.dumps(schema) == orjson.dumps(converter.unstructure(schema))


@pytest.mark.usefixtures("loading_path")
def test_converter_inside_a_users_own_class() -> None:
    @attrs.frozen
    class Deployment:
        name: str
        quant: QuantParamSchema

    raw = {"name": "prod", "quant": json.loads(EXAMPLE.read_bytes())}
    deployment = converter.structure(raw, Deployment)
    assert deployment.quant == quantparams.load(EXAMPLE)
    assert converter.unstructure(deployment) == raw


def test_converter_is_strict_inside_a_users_class() -> None:
    @attrs.frozen
    class Deployment:
        quant: KVCacheQuantSchema

    raw = {"quant": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": {"01": 0.5}}}}
    with pytest.raises(ClassValidationError) as caught:
        converter.structure(raw, Deployment)
    errors = caught.value.exceptions
    assert isinstance(errors[0], StructureError)
    assert str(errors[0]).startswith('$.scaling_factor["0"]["01"]: expected a key like "0"')


def test_converter_structures_the_maps_alone() -> None:
    from collections.abc import Mapping

    ranks = converter.structure({"0": {"0": 0.5}, "1": {"0": 1}}, RankScales)
    assert ranks == {0: {0: 0.5}, 1: {0: 1.0}}
    # The converter's hooks take the abstract Mapping types that mypy refuses as `type[T]`.
    assert converter.structure({"0": 0.5}, Mapping[int, float]) == {0: 0.5}  # type: ignore[type-abstract]
    nested = Mapping[int, Mapping[int, float]]
    assert converter.structure({"0": {"0": 0.5}}, nested) == {0: {0: 0.5}}  # type: ignore[type-abstract]
    with pytest.raises(StructureError) as caught:
        converter.structure({"0": {"x": 0.5}}, RankScales)
    assert str(caught.value).startswith('$["0"]["x"]: expected a key like "0"')
    assert converter.unstructure(ranks) == {"0": {"0": 0.5}, "1": {"0": 1.0}}


@pytest.mark.usefixtures("loading_path")
def test_errors_pickle_with_their_problems() -> None:
    with pytest.raises(ValidationError) as caught:
        quantparams.load(EXAMPLE, {"tp_size": 3, "tp_rank": 0, "num_hidden_layers": 32})
    again = pickle.loads(pickle.dumps(caught.value))
    assert type(again) is ValidationError
    assert again.problems == caught.value.problems
    assert str(again) == str(caught.value)
