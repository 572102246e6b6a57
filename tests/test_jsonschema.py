"""The JSON Schema of the file: a sound draft 2020-12 schema that judges files as the library does."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import quantparams
from cli_process import run_cli
from documents import EXAMPLE, EXAMPLES, INVALID_FILES, RERUN, VALID_FILES, documents
from quantparams import json_schema
from quantparams._jsonschema import DRAFT, KEY_PATTERN
from quantparams.cli import main
from strategies import FP8, json_values, model_types, sound_documents

# The shipped examples too: the README's sound file and its rerun with a negative scale.
ALL_DOCUMENTS = [*VALID_FILES, *INVALID_FILES, *documents(EXAMPLES), *documents(RERUN.parent)]

SCHEMA = json_schema()
VALIDATOR = Draft202012Validator(SCHEMA)

# The invalid files a schema cannot reject, reviewed one by one. Every other
# file in tests/data/invalid must be rejected by the schema.
#
# Not JSON text at all, so there is no document for a schema to judge: the
# NaN / Infinity tokens (which Python's json module lets through), a byte
# order mark (RFC 8259: not part of JSON text), bytes that are not UTF-8, and
# text cut short.
NOT_JSON = frozenset({"byte-order-mark", "infinity-token", "nan-token", "not-utf8", "truncated"})
# Valid JSON the library refuses for a reason JSON Schema cannot state:
# 1e400 is a JSON number, but no double holds it. (A schema has no notion of
# a finite double: an `exclusiveMaximum` would refuse huge finite scales too.)
BEYOND_SCHEMA = frozenset({"overflow-number"})
# The file alone is sound; only the engine context (the .context.json beside
# it) makes it invalid, and a schema knows nothing of the engine.
CONTEXT_ONLY = frozenset(
    {
        "context-missing-key",
        "layer-missing",
        "model-type-mismatch",
        "null-model-type-vs-context",
        "rank-gap",
        "tp-rank-out-of-range",
        "tp-size-mismatch",
    }
)
NOT_EXPRESSIBLE = NOT_JSON | BEYOND_SCHEMA | CONTEXT_ONLY

_NOT_JSON = object()


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _parse(data: bytes) -> Any:
    """The document as a strict JSON reader sees it, or _NOT_JSON."""
    try:
        # Decoding to str first makes json.loads refuse a byte order mark.
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except ValueError:
        return _NOT_JSON


def _library_accepts(data: bytes) -> bool:
    try:
        quantparams.loads(data, context=None)
    except quantparams.QuantParamError:
        return False
    return True


def test_schema_is_a_draft_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == DRAFT == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)
    # JSON-ready as it is: what `quantparams schema` prints.
    assert orjson.loads(orjson.dumps(SCHEMA)) == SCHEMA


def test_schema_states_the_format() -> None:
    assert SCHEMA["required"] == ["model_type", "kv_cache"]
    assert SCHEMA["properties"]["model_type"]["type"] == ["string", "null"]
    kv_cache = SCHEMA["properties"]["kv_cache"]
    assert kv_cache["required"] == ["dtype", "scaling_factor"]
    assert kv_cache["properties"]["dtype"] == {"const": "float8_e4m3fn"}
    assert SCHEMA["$defs"]["index"]["pattern"] == KEY_PATTERN == "^(0|[1-9][0-9]*)$"
    assert SCHEMA["$defs"]["scale"]["exclusiveMinimum"] == 0
    # Unknown keys are allowed, as vLLM ignores them.
    assert "additionalProperties" not in SCHEMA
    assert "additionalProperties" not in kv_cache


def test_each_call_returns_a_fresh_schema() -> None:
    first = json_schema()
    first["properties"]["kv_cache"]["required"].append("extra")
    assert json_schema() == SCHEMA
    assert "extra" not in SCHEMA["properties"]["kv_cache"]["required"]


def test_the_lists_name_real_files() -> None:
    names = {path.stem for path in INVALID_FILES}
    assert names >= NOT_EXPRESSIBLE
    assert names - NOT_EXPRESSIBLE, "some invalid files must be left for the schema to reject"


@pytest.mark.parametrize("path", [*VALID_FILES, EXAMPLE], ids=lambda p: p.stem)
def test_accepts_every_valid_file(path: Path) -> None:
    document = _parse(path.read_bytes())
    assert document is not _NOT_JSON
    assert [error.message for error in VALIDATOR.iter_errors(document)] == []


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.stem)
def test_rejects_every_invalid_file_it_can_express(path: Path) -> None:
    document = _parse(path.read_bytes())
    if path.stem in NOT_JSON:
        assert document is _NOT_JSON
        return
    assert document is not _NOT_JSON
    # The unexpressible ones are asserted too, so that a better schema (or a
    # changed file) shows up here and the lists stay true.
    assert VALIDATOR.is_valid(document) == (path.stem in NOT_EXPRESSIBLE)


@pytest.mark.usefixtures("loading_path")
@pytest.mark.parametrize("path", ALL_DOCUMENTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_schema_agrees_with_loads_without_context(path: Path) -> None:
    data = path.read_bytes()
    document = _parse(data)
    if document is _NOT_JSON:
        with pytest.raises(quantparams.ParseError):
            quantparams.loads(data, context=None)
    elif path.stem in BEYOND_SCHEMA:
        assert not _library_accepts(data)
        assert VALIDATOR.is_valid(document)
    else:
        assert VALIDATOR.is_valid(document) == _library_accepts(data)


def test_overflowing_number_is_the_one_gap() -> None:
    document = _parse(
        b'{"model_type": null, "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": {"0": 1e400}}}}'
    )
    assert document["kv_cache"]["scaling_factor"]["0"]["0"] == math.inf
    assert VALIDATOR.is_valid(document)


def test_key_pattern_matches_the_whole_key() -> None:
    # JSON Schema patterns are ECMA 262 regular expressions, whose `$` matches
    # only at the very end; Python's `re.search` (which the jsonschema package
    # uses) also matches it before a final newline. The schema means the
    # former, as fullmatch reads it.
    inner = KEY_PATTERN.removeprefix("^").removesuffix("$")
    for key in ["0", "7", "10", "99999999999999999999"]:
        assert re.fullmatch(inner, key)
    for key in ["", "01", "00", "-1", "+1", " 1", "1 ", "1\n", "1.0", "1_0", "1e3", "\u0661", "abc"]:
        assert not re.fullmatch(inner, key), key


# Keys and values near and far from the sound ones. Keys ending in a newline
# are left out: see test_key_pattern_matches_the_whole_key.
_keys = st.one_of(
    st.sampled_from(["0", "1", "2", "10", "01", "00", "-1", "+1", " 1", "1.0", "1_0", "", "\u0661", "1e3"]),
    st.integers(0, 10**20).map(str),
    st.text(max_size=4),
).filter(lambda key: not key.endswith("\n"))
_numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**63), 2**64 - 1),
    st.sampled_from([0, 0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, 0.5, -0.5]),
)
_scales = st.one_of(_numbers, _numbers, json_values())
_layer_maps = st.one_of(st.dictionaries(_keys, _scales, max_size=4), json_values())
_rank_maps = st.one_of(st.dictionaries(_keys, _layer_maps, max_size=3), json_values())
_dtypes = st.one_of(
    st.just(FP8), st.sampled_from(["float16", "float8_e5m2", "FLOAT8_E4M3FN", ""]), json_values()
)
_extras = st.dictionaries(
    st.text(max_size=6).filter(lambda k: k not in {"model_type", "kv_cache", "dtype", "scaling_factor"}),
    json_values(),
    max_size=2,
)


def _object(required: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    # Mostly the right keys, sometimes some missing, sometimes not an object.
    full = st.builds(lambda fields, extra: {**extra, **fields}, st.fixed_dictionaries(required), _extras)
    partial = st.fixed_dictionaries({}, optional=required)
    return st.one_of(full, full, full, partial, json_values())


_documents_near_the_format = _object(
    {
        "model_type": st.one_of(model_types(), json_values()),
        "kv_cache": _object({"dtype": _dtypes, "scaling_factor": _rank_maps}),
    }
)


@pytest.mark.usefixtures("loading_path")
# The loading path, set once by the fixture, holds for every example.
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.one_of(_documents_near_the_format, sound_documents().map(lambda sound: sound.document)))
def test_schema_agrees_with_loads_on_generated_documents(document: Any) -> None:
    # Python's json writes integers of any size, as a calibration script may.
    data = json.dumps(document, allow_nan=False).encode()
    assert VALIDATOR.is_valid(json.loads(data)) == _library_accepts(data)


def test_schema_command_prints_it_indented(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == orjson.dumps(SCHEMA, option=orjson.OPT_INDENT_2).decode() + "\n"
    assert out.startswith('{\n  "$schema": "https://json-schema.org/draft/2020-12/schema",\n')


def test_schema_command_as_a_subprocess() -> None:
    result = run_cli("schema")
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout) == SCHEMA


@pytest.mark.parametrize("args", [["schema", "extra"], ["schema", "--tp-size", "2"]])
def test_schema_command_takes_no_arguments(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "error: unrecognized arguments" in err
