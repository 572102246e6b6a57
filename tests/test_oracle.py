"""Differential tests: quantparams against an oracle that behaves as vLLM's Pydantic schema.

- On sound files both read the same values (with and without an engine context).
- On broken files both reject.
- Where README.md's "Where quantparams is stricter than vLLM" lists a
  deliberate difference, the oracle accepts (or fails with a bare `KeyError`)
  and quantparams rejects with a clear error at the right JSON path.
- What `dumps` writes, vLLM's path reads back with the same values.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import quantparams
from agreement import LOADERS, Loader
from documents import ROOT
from oracle import OracleResult, oracle_load, oracle_loader
from quantparams import (
    ParseError,
    QuantParamError,
    QuantParamSchema,
    StructureError,
    ValidationError,
    kv_cache_scales_loader,
)
from strategies import FP8, SoundDocument, fresh_choice, schemas, sound_documents

pytestmark = pytest.mark.skipif(
    not __debug__, reason="the oracle checks with assert, as vLLM does, and python -O strips those"
)

SF = "$.kv_cache.scaling_factor"

# The README section that lists where quantparams refuses what vLLM lets
# through; the comments below cite its numbered items.
STRICTER = "## Where quantparams is stricter than vLLM"

# Each test that loads runs on `loads` and on the precise loader alone.
_BOTH_LOADERS = pytest.mark.parametrize("load", LOADERS.values(), ids=list(LOADERS))


# Helpers ---------------------------------------------------------------------


def _json_bytes(doc: Any, *, ensure_ascii: bool = True) -> bytes:
    return json.dumps(doc, ensure_ascii=ensure_ascii).encode("utf-8")


def _values(schema: QuantParamSchema) -> dict[int, dict[int, float]]:
    return {rank: dict(layers) for rank, layers in schema.kv_cache.scaling_factor.items()}


def _accepted(result: OracleResult | Exception) -> OracleResult:
    assert isinstance(result, OracleResult), f"the oracle rejected the document: {result!r}"
    return result


def _rejected(result: OracleResult | Exception) -> Exception:
    assert isinstance(result, Exception), f"the oracle accepted the document: {result!r}"
    return result


def _assertion_messages(error: Exception) -> list[str]:
    """The messages of the failed `assert`s inside a pydantic ValidationError."""
    assert isinstance(error, pydantic.ValidationError), repr(error)
    prefix = "Assertion failed, "
    return [e["msg"].removeprefix(prefix) for e in error.errors() if e["type"] == "assertion_error"]


def _paths(error: QuantParamError) -> list[str]:
    return [p.path for p in error.problems]


def _key(key: str) -> str:
    """A map key as it appears in a problem path."""
    return f"[{json.dumps(key)}]"


def _base() -> tuple[dict[str, Any], dict[str, Any]]:
    """A sound file for TP size 2 and 4 layers, and the context of rank 0."""
    doc = {
        "model_type": "llama",
        "kv_cache": {
            "dtype": FP8,
            "scaling_factor": {
                str(rank): {str(layer): 0.01 * (4 * rank + layer + 1) for layer in range(4)}
                for rank in range(2)
            },
        },
    }
    context = {"tp_size": 2, "tp_rank": 0, "num_hidden_layers": 4, "model_type": "llama"}
    return doc, context


# A scale written as this number is then replaced in the JSON text by a token
# that `json.dumps` cannot write (such as 1e400) or would write differently.
_SENTINEL = 0.123456789


def _base_with_token(token: str, rank: str = "0", layer: str = "1") -> tuple[bytes, dict[str, Any]]:
    doc, context = _base()
    doc["kv_cache"]["scaling_factor"][rank][layer] = _SENTINEL
    text = json.dumps(doc)
    assert text.count(repr(_SENTINEL)) == 1
    return text.replace(repr(_SENTINEL), token).encode(), context


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "kv_cache_scales.json"
    path.write_bytes(data)
    return path


def _loaders(path: Path, context: dict[str, Any]) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    args = (
        path,
        context["tp_rank"],
        context["tp_size"],
        context["num_hidden_layers"],
        context.get("model_type"),
    )
    return kv_cache_scales_loader(*args), oracle_loader(*args)


# Sound documents: the same values ----------------------------------------------


@settings(max_examples=80)
@given(sound=sound_documents(), ensure_ascii=st.booleans(), typed_context=st.booleans())
@_BOTH_LOADERS
def test_sound_documents_read_alike(
    load: Loader, sound: SoundDocument, ensure_ascii: bool, typed_context: bool
) -> None:
    data = _json_bytes(sound.document, ensure_ascii=ensure_ascii)
    context = sound.validation_context() if typed_context else sound.context
    for ours_context, oracle_context in ((None, None), ({}, {}), (context, sound.context)):
        schema = load(data, ours_context)
        theirs = _accepted(oracle_load(data, oracle_context))
        assert _values(schema) == theirs.scales
        assert schema.model_type == theirs.model_type
        assert schema.kv_cache.dtype == theirs.dtype == FP8
        assert all(type(s) is float for layers in theirs.scales.values() for s in layers.values())
        assert all(
            type(s) is float for layers in schema.kv_cache.scaling_factor.values() for s in layers.values()
        )
    assert theirs.scales == sound.expected_scales()


@settings(
    max_examples=30,
    # Every example overwrites the one file in tmp_path.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(sound=sound_documents())
def test_loader_matches_vllm_loader_on_every_rank(sound: SoundDocument, tmp_path: Path) -> None:
    path = _write(tmp_path, _json_bytes(sound.document))
    model_type = sound.context.get("model_type")
    for rank in range(sound.tp_size):
        args = (path, rank, sound.tp_size, sound.num_hidden_layers, model_type)
        ours = kv_cache_scales_loader(*args)
        theirs = oracle_loader(*args)
        # Compared as they come, unsorted: both keep the file's layer order
        # (Pydantic's dict keeps insertion order; quantparams keeps source order
        # of a map that is not 0..n-1 in order), and sound_documents() writes
        # some files with layers out of order, so the order is checked too.
        assert ours == theirs
        assert len(theirs) == sound.num_hidden_layers


# Broken documents: both reject -----------------------------------------------


Doc = dict[str, Any]


@dataclass(frozen=True)
class Broken:
    """A way to break the base document, and what each reader must then do."""

    apply: Callable[[Doc, Doc], Any]  # (document, context) -> a JSON value, or JSON bytes
    error: type[QuantParamError]
    path: str  # one of the problem paths quantparams must report
    vllm_message: str | None = None  # vLLM's assert message, which quantparams must repeat
    needs_context: bool = True  # False: broken even without an engine context
    # What vLLM's reader raises; None: json's error for bad JSON, else Pydantic's.
    oracle_error: type[Exception] | None = None


def _sf(doc: Doc) -> Doc:
    sf: Doc = doc["kv_cache"]["scaling_factor"]
    return sf


def _edit(change: Callable[[Doc, Doc], object]) -> Callable[[Doc, Doc], Doc]:
    def apply(doc: Doc, context: Doc) -> Doc:
        change(doc, context)
        return doc

    return apply


def _set_scale(value: object, rank: str = "0", layer: str = "1") -> Callable[[Doc, Doc], Doc]:
    return _edit(lambda doc, _: _sf(doc)[rank].__setitem__(layer, value))


def _rename(keys: Callable[[Doc], Doc], old: str, new: str) -> Callable[[Doc, Doc], Doc]:
    def change(doc: Doc, _: Doc) -> None:
        mapping = keys(doc)
        items = list(mapping.items())
        mapping.clear()
        mapping.update((new if k == old else k, v) for k, v in items)

    return _edit(change)


BROKEN = [
    pytest.param(
        Broken(
            _edit(lambda doc, _: _sf(doc).pop("1")),
            ValidationError,
            SF,
            "Loaded dictionary has TP size 1 but LLM engine is currently running with TP size 2.",
        ),
        id="other-rank-dropped",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: _sf(doc).pop("0")),
            ValidationError,
            SF,
            "Loaded dictionary has TP size 1 but LLM engine is currently running with TP size 2.",
        ),
        id="current-rank-dropped",
    ),
    pytest.param(
        Broken(
            _rename(_sf, "1", "2"),
            ValidationError,
            f'{SF}["1"]',
            "KV cache scales map for TP rank 1 not found.",
        ),
        id="rank-gap",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: _sf(doc).__setitem__("2", dict(_sf(doc)["1"]))),
            ValidationError,
            SF,
            "Loaded dictionary has TP size 3 but LLM engine is currently running with TP size 2.",
        ),
        id="extra-rank",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: _sf(doc)["0"].pop("3")),
            ValidationError,
            f'{SF}["0"]',
            "KV cache scales map for TP rank 0 is malformed. Expected 4 layers, got 3.",
        ),
        id="layer-dropped-current-rank",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: _sf(doc)["1"].pop("2")),
            ValidationError,
            f'{SF}["1"]',
            "KV cache scales map for TP rank 1 is malformed. Expected 4 layers, got 3.",
        ),
        id="layer-dropped-other-rank",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: _sf(doc)["1"].__setitem__("4", 0.5)),
            ValidationError,
            f'{SF}["1"]',
            "KV cache scales map for TP rank 1 is malformed. Expected 4 layers, got 5.",
        ),
        id="extra-layer-other-rank",
    ),
    pytest.param(
        Broken(
            _rename(lambda doc: _sf(doc)["0"], "3", "7"),
            ValidationError,
            f'{SF}["0"]["3"]',
            "Could not find KV cache scales for layer 3 in TP rank 0.",
        ),
        id="layer-gap-current-rank",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: doc["kv_cache"].__setitem__("dtype", "float8_e5m2")),
            ValidationError,
            "$.kv_cache.dtype",
            "Loaded scaling factors intended for KV cache dtype = float8_e5m2 rather than float8_e4m3fn!",
            needs_context=False,
        ),
        id="wrong-dtype",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: doc.__setitem__("model_type", "mistral")),
            ValidationError,
            "$.model_type",
            "Model type is llama but loaded scaling factors belonging to different model type mistral!",
        ),
        id="model-type-differs-from-context",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: doc.__setitem__("model_type", None)),
            ValidationError,
            "$.model_type",
            "Model type is llama but loaded scaling factors belonging to different model type None!",
        ),
        id="null-model-type-vs-context",
    ),
    pytest.param(
        Broken(_set_scale({"value": 0.5}), StructureError, f'{SF}["0"]["1"]', needs_context=False),
        id="scale-is-object",
    ),
    pytest.param(
        Broken(_set_scale([0.5]), StructureError, f'{SF}["0"]["1"]', needs_context=False),
        id="scale-is-array",
    ),
    pytest.param(
        Broken(_set_scale(None), StructureError, f'{SF}["0"]["1"]', needs_context=False),
        id="scale-is-null",
    ),
    pytest.param(
        Broken(_set_scale("abc"), StructureError, f'{SF}["0"]["1"]', needs_context=False),
        id="scale-is-string-abc",
    ),
    pytest.param(
        Broken(_set_scale(""), StructureError, f'{SF}["0"]["1"]', needs_context=False),
        id="scale-is-empty-string",
    ),
    pytest.param(
        # 10**400 overflows a double: orjson refuses the number; Python's json
        # reads an int, which Pydantic then refuses as a float.
        Broken(
            _set_scale(10**400), ParseError, "$", needs_context=False, oracle_error=pydantic.ValidationError
        ),
        id="scale-overflows-double",
    ),
    pytest.param(
        Broken(
            _rename(lambda doc: _sf(doc)["0"], "1", "abc"),
            StructureError,
            f'{SF}["0"]["abc"]',
            needs_context=False,
        ),
        id="layer-key-abc",
    ),
    pytest.param(
        Broken(
            _rename(lambda doc: _sf(doc)["1"], "1", ""), StructureError, f'{SF}["1"][""]', needs_context=False
        ),
        id="layer-key-empty",
    ),
    pytest.param(
        Broken(_rename(_sf, "1", "abc"), StructureError, f'{SF}["abc"]', needs_context=False),
        id="rank-key-abc",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: doc["kv_cache"].__setitem__("scaling_factor", list(_sf(doc).values()))),
            StructureError,
            SF,
            needs_context=False,
        ),
        id="scaling-factor-is-list",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: _sf(doc).__setitem__("0", list(_sf(doc)["0"].values()))),
            StructureError,
            f'{SF}["0"]',
            needs_context=False,
        ),
        id="layer-map-is-list",
    ),
    pytest.param(
        Broken(_edit(lambda doc, _: doc.pop("kv_cache")), StructureError, "$.kv_cache", needs_context=False),
        id="missing-kv-cache",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: doc.pop("model_type")), StructureError, "$.model_type", needs_context=False
        ),
        id="missing-model-type",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: doc["kv_cache"].pop("dtype")),
            StructureError,
            "$.kv_cache.dtype",
            needs_context=False,
        ),
        id="missing-dtype",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: doc["kv_cache"].pop("scaling_factor")),
            StructureError,
            SF,
            needs_context=False,
        ),
        id="missing-scaling-factor",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: doc.__setitem__("model_type", 7)),
            StructureError,
            "$.model_type",
            needs_context=False,
        ),
        id="model-type-is-number",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: doc["kv_cache"].__setitem__("dtype", 8)),
            StructureError,
            "$.kv_cache.dtype",
            needs_context=False,
        ),
        id="dtype-is-number",
    ),
    pytest.param(
        Broken(
            _edit(lambda doc, _: doc.__setitem__("kv_cache", "fp8")),
            StructureError,
            "$.kv_cache",
            needs_context=False,
        ),
        id="kv-cache-is-string",
    ),
    pytest.param(
        Broken(lambda doc, _: [doc], StructureError, "$", needs_context=False),
        id="document-is-array",
    ),
    pytest.param(
        Broken(lambda doc, _: _json_bytes(doc)[:-7], ParseError, "$", needs_context=False),
        id="truncated-json",
    ),
    pytest.param(
        Broken(lambda doc, _: b"", ParseError, "$", needs_context=False),
        id="empty-file",
    ),
    pytest.param(
        Broken(lambda doc, _: b"\xef\xbb\xbf" + _json_bytes(doc), ParseError, "$", needs_context=False),
        id="byte-order-mark",
    ),
    pytest.param(
        Broken(
            lambda doc, _: _json_bytes(doc).replace(b'"llama"', b'"ll\xffma"'),
            ParseError,
            "$",
            needs_context=False,
            oracle_error=UnicodeDecodeError,
        ),
        id="not-utf8",
    ),
]


@pytest.mark.parametrize("broken", BROKEN)
@_BOTH_LOADERS
def test_broken_documents_rejected_by_both(load: Loader, broken: Broken, tmp_path: Path) -> None:
    doc, context = _base()
    changed = broken.apply(doc, context)
    data = changed if isinstance(changed, bytes) else _json_bytes(changed)

    contexts = [context] if broken.needs_context else [context, None]
    for ctx in contexts:
        with pytest.raises(QuantParamError) as caught:
            load(data, ctx)
        error = caught.value
        assert type(error) is broken.error, str(error)
        assert broken.path in _paths(error), str(error)

        theirs = _rejected(oracle_load(data, ctx))
        # vLLM's reader fails in json (bad JSON) or in Pydantic (wrong types
        # and failed asserts alike); never with a bare KeyError here, as the
        # context is sound.
        expected_oracle_error = broken.oracle_error or (
            json.JSONDecodeError if broken.error is ParseError else pydantic.ValidationError
        )
        assert isinstance(theirs, expected_oracle_error), repr(theirs)

        if broken.vllm_message is not None:
            assert broken.vllm_message in _assertion_messages(theirs)
            assert broken.vllm_message in [p.message for p in error.problems], str(error)

    # Through the loaders, both fall back to no scales at all.
    assert _loaders(_write(tmp_path, data), context) == ([], [])


@st.composite
def _damaged(draw: st.DrawFn) -> tuple[SoundDocument, str]:
    """A sound document with one rank or layer added or removed; and what was done."""
    sound = draw(sound_documents(layer_counts=st.integers(1, 16)))
    doc = copy.deepcopy(sound.document)
    sf = doc["kv_cache"]["scaling_factor"]
    rank = draw(st.sampled_from(sorted(sf)))
    how = draw(st.sampled_from(["drop-rank", "drop-layer", "add-rank", "add-layer"]))
    if how == "drop-rank":
        del sf[rank]
    elif how == "drop-layer":
        del sf[rank][draw(st.sampled_from(sorted(sf[rank])))]
    elif how == "add-rank":
        sf[str(sound.tp_size)] = dict(sf[rank])
    else:
        sf[rank][str(sound.num_hidden_layers)] = 1.0
    return SoundDocument(doc, sound.context), how


@settings(max_examples=60)
@given(damaged=_damaged())
@_BOTH_LOADERS
def test_damaged_documents_rejected_with_the_same_message(
    load: Loader, damaged: tuple[SoundDocument, str]
) -> None:
    sound, how = damaged
    event(how)
    data = _json_bytes(sound.document)
    with pytest.raises(ValidationError) as caught:
        load(data, sound.context)
    theirs = _rejected(oracle_load(data, sound.context))
    # vLLM stops at its first failed assert; quantparams reports that problem among all the others.
    [message] = _assertion_messages(theirs)
    assert message in [p.message for p in caught.value.problems]
    # Without an engine context there is nothing to compare against, and both accept.
    assert _values(load(data)) == _accepted(oracle_load(data)).scales


# Perturbed documents: quantparams is only ever stricter ----------------------

# Scales vLLM reads as a float but quantparams refuses: not finite, not > 0, or
# a bool or a string (STRICTER items 1 and 3).
_LAX_SCALES: tuple[object, ...] = (
    0,
    0.0,
    -0.0,
    -1.5,
    -(10**30),
    True,
    False,
    "0.5",
    "nan",
    "-1",
    math.nan,
    math.inf,
    -math.inf,
)
# Scales both refuse.
_BAD_SCALES: tuple[object, ...] = (None, [], [0.5], {}, {"0": 0.5}, "abc", "", 10**400)
# Keys Pydantic reads as an int but quantparams refuses: not canonical (STRICTER item 2).
_LAX_KEYS = ("01", "00", "-1", "+1", " 1", "1 ", "1.0", "1_0", "-0")
# Keys both refuse, and canonical keys both read alike.
_OTHER_KEYS = (
    "abc",
    "",
    "1e0",
    "0x1",
    "\u0663",
    "0",
    "1",
    "2",
    "3",
    "9",
    "10",
    "123456789012345678901234567890",
)


def _replace_key(mapping: Doc, old: str, new: str) -> None:
    items = [(new if k == old else k, v) for k, v in mapping.items()]
    mapping.clear()
    mapping.update(items)


@st.composite
def _perturbed(draw: st.DrawFn) -> tuple[Doc, Doc | None, bool]:
    """A small sound document after a few random edits, an engine context
    (sound or not), and whether an edit was one where quantparams is
    deliberately stricter than vLLM."""
    sound = draw(sound_documents(tp_sizes=st.integers(1, 3), layer_counts=st.integers(1, 5)))
    doc = copy.deepcopy(sound.document)
    kv = doc["kv_cache"]
    sf = kv["scaling_factor"]
    lax = False
    for _ in range(draw(st.integers(1, 3))):
        edit = draw(st.sampled_from(["scale", "key", "delete", "layer-map", "dtype", "model_type"]))
        rank = draw(st.sampled_from(sorted(sf))) if sf else None
        layers = sf[rank] if rank is not None and isinstance(sf[rank], dict) else None
        if edit == "scale" and layers:
            is_lax = draw(st.booleans())
            value = draw(st.sampled_from(_LAX_SCALES if is_lax else _BAD_SCALES))
            layers[draw(st.sampled_from(sorted(layers)))] = value
            lax |= is_lax
        elif edit == "key" and rank is not None:
            is_lax = draw(st.booleans())
            new = draw(st.sampled_from(_LAX_KEYS if is_lax else _OTHER_KEYS))
            if layers and draw(st.booleans()):
                _replace_key(layers, draw(st.sampled_from(sorted(layers))), new)
            else:
                _replace_key(sf, rank, new)
            lax |= is_lax
        elif edit == "delete" and rank is not None:
            if layers and draw(st.booleans()):
                del layers[draw(st.sampled_from(sorted(layers)))]
            else:
                del sf[rank]
        elif edit == "layer-map" and rank is not None:
            sf[rank] = draw(fresh_choice([[0.5], 0.5, None, "x"]))
        elif edit == "dtype":
            kv["dtype"] = draw(st.sampled_from([FP8, "float8_e5m2", "", 8, None]))
        elif edit == "model_type":
            doc["model_type"] = draw(st.sampled_from(["llama", "other", None, 7]))

    context: Doc = dict(sound.context)
    how = draw(
        st.sampled_from(["sound", "none", "empty", "tp_rank", "missing", "tp_size", "layers", "model_type"])
    )
    if how == "none":
        return doc, None, lax
    if how == "empty":
        context = {}
    elif how == "tp_rank":
        context["tp_rank"] = draw(st.sampled_from([-1, sound.tp_size, sound.tp_size + 1]))
    elif how == "missing":
        del context[draw(st.sampled_from(sorted(context)))]
    elif how == "tp_size":
        context["tp_size"] += draw(st.sampled_from([-1, 1])) if sound.tp_size > 1 else 1
    elif how == "layers":
        context["num_hidden_layers"] += draw(st.sampled_from([-1, 1])) if sound.num_hidden_layers > 1 else 1
    elif how == "model_type":
        context["model_type"] = "other"
    return doc, context, lax


@settings(max_examples=150)
@given(perturbed=_perturbed())
@_BOTH_LOADERS
def test_quantparams_accepts_only_what_vllm_accepts(
    load: Loader, perturbed: tuple[Doc, Doc | None, bool]
) -> None:
    doc, context, lax = perturbed
    data = _json_bytes(doc)
    # Anything but a QuantParamError escaping loads() fails the test.
    try:
        ours: QuantParamSchema | QuantParamError = load(data, context)
    except QuantParamError as error:
        ours = error
    theirs = oracle_load(data, context)
    event(f"quantparams: {type(ours).__name__}; vLLM: {type(theirs).__name__}")

    if isinstance(ours, QuantParamSchema):
        accepted = _accepted(theirs)
        assert _values(ours) == accepted.scales
        assert ours.model_type == accepted.model_type
    elif not lax:
        # No edit touched a deliberate difference: vLLM must reject too.
        _rejected(theirs)


# Deliberate differences (STRICTER): the oracle accepts, quantparams rejects -------


@pytest.mark.parametrize(
    ("token", "read_by_python"),
    [
        pytest.param("NaN", math.nan, id="NaN"),
        pytest.param("Infinity", math.inf, id="Infinity"),
        pytest.param("-Infinity", -math.inf, id="-Infinity"),
        # Finite in the text, but Python's json reads it as inf; orjson refuses it.
        pytest.param("1e400", math.inf, id="1e400"),
        pytest.param("-1e400", -math.inf, id="-1e400"),
    ],
)
@_BOTH_LOADERS
def test_non_finite_number_tokens(load: Loader, token: str, read_by_python: float, tmp_path: Path) -> None:
    data, context = _base_with_token(token)
    theirs = _accepted(oracle_load(data, context))
    if math.isnan(read_by_python):
        assert math.isnan(theirs.scales[0][1])
    else:
        assert theirs.scales[0][1] == read_by_python

    for ctx in (context, None):
        with pytest.raises(ParseError) as caught:
            load(data, ctx)
        assert _paths(caught.value) == ["$"]

    ours, vllm = _loaders(_write(tmp_path, data), context)
    assert ours == []
    assert len(vllm) == 4


@pytest.mark.parametrize(
    "token",
    ["0", "0.0", "-0.0", "-0.5", "-1", "-5e-324", "1e-400", "-1e-400"],
    # 1e-400 is a positive number in the text that every reader rounds to 0.0.
)
@_BOTH_LOADERS
def test_scales_zero_or_negative(load: Loader, token: str) -> None:
    data, context = _base_with_token(token)
    theirs = _accepted(oracle_load(data, context))
    assert theirs.scales[0][1] == float(token)
    assert theirs.scales[0][1] <= 0

    for ctx in (context, None):
        with pytest.raises(ValidationError) as caught:
            load(data, ctx)
        assert _paths(caught.value) == [f'{SF}["0"]["1"]']
        assert "finite number > 0" in caught.value.problems[0].message


# What Pydantic makes of each non-canonical key. Pydantic accepts all six
# STRICTER item 2 lists (it strips spaces, allows a sign, leading zeros, a ".0"
# fraction and Python's digit separators), so each is a deliberate difference.
NON_CANONICAL_KEYS = {"-1": -1, "01": 1, "+1": 1, " 1": 1, "1.0": 1, "1_0": 10}


def _stricter_items() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"\n{STRICTER}\n", 1)[1].split("\n## ", 1)[0]
    items = re.split(r"^\d\. ", section.split("\n\n")[1], flags=re.M)
    return [" ".join(item.split()) for item in items[1:]]


def test_the_readme_lists_the_differences_these_tests_pin() -> None:
    items = _stricter_items()
    assert len(items) == 5
    scales, keys, types = items[:3]
    assert scales.startswith("scales that are NaN, infinite, zero or negative")
    assert keys.startswith("keys that are not canonical non-negative decimal integers")
    assert re.findall(r'`"([^`]*)"`', keys)[: len(NON_CANONICAL_KEYS)] == list(NON_CANONICAL_KEYS)
    assert types.startswith("booleans or strings where a number belongs")


@pytest.mark.parametrize("key", list(NON_CANONICAL_KEYS))
@_BOTH_LOADERS
def test_non_canonical_layer_key(load: Loader, key: str) -> None:
    # Layer "1" of rank 1 (not the current rank) respelt: vLLM only counts the
    # layers of other ranks, so it accepts every spelling even with a context.
    doc, context = _base()
    scale = _sf(doc)["1"].pop("1")
    _sf(doc)["1"][key] = scale
    data = _json_bytes(doc)

    for ctx in (context, None):
        theirs = _accepted(oracle_load(data, ctx))
        assert theirs.scales[1][NON_CANONICAL_KEYS[key]] == scale
        with pytest.raises(StructureError) as caught:
            load(data, ctx)
        assert _paths(caught.value) == [f'{SF}["1"]{_key(key)}']


@pytest.mark.parametrize("key", [k for k, v in NON_CANONICAL_KEYS.items() if v == 1])
@_BOTH_LOADERS
def test_non_canonical_layer_key_on_current_rank(load: Loader, key: str) -> None:
    doc, context = _base()
    _sf(doc)["0"] = {key if k == "1" else k: v for k, v in _sf(doc)["0"].items()}
    data = _json_bytes(doc)
    theirs = _accepted(oracle_load(data, context))
    assert sorted(theirs.scales[0]) == [0, 1, 2, 3]
    with pytest.raises(StructureError) as caught:
        load(data, context)
    assert _paths(caught.value) == [f'{SF}["0"]{_key(key)}']


@pytest.mark.parametrize("key", list(NON_CANONICAL_KEYS))
@_BOTH_LOADERS
def test_non_canonical_rank_key(load: Loader, key: str) -> None:
    doc, context = _base()
    _sf(doc)[key] = _sf(doc).pop("1")
    data = _json_bytes(doc)

    theirs = _accepted(oracle_load(data, None))
    assert sorted(theirs.scales) == sorted({0, NON_CANONICAL_KEYS[key]})
    with_context = oracle_load(data, context)
    if NON_CANONICAL_KEYS[key] == 1:
        # Read as rank 1, so vLLM accepts it even for the engine.
        _accepted(with_context)
    else:
        # Read as another rank, so vLLM finds rank 1 missing.
        assert "KV cache scales map for TP rank 1 not found." in _assertion_messages(_rejected(with_context))

    for ctx in (context, None):
        with pytest.raises(StructureError) as caught:
            load(data, ctx)
        assert _paths(caught.value) == [f"{SF}{_key(key)}"]


@pytest.mark.parametrize("level", ["layer", "rank"])
@pytest.mark.parametrize("canonical_first", [True, False], ids=["1-then-01", "01-then-1"])
@_BOTH_LOADERS
def test_two_spellings_of_one_key(load: Loader, level: str, canonical_first: bool) -> None:
    doc, context = _base()
    first_value: Any
    second_value: Any
    if level == "layer":
        mapping, first_value, second_value = _sf(doc)["0"], 0.25, 0.75
        path = f'{SF}["0"]["01"]'
    else:
        mapping = _sf(doc)
        first_value, second_value = _sf(doc)["1"], {str(layer): 0.5 for layer in range(4)}
        path = f'{SF}["01"]'
    # Rebuild the map so the two spellings sit where the parameters say.
    rest = {k: v for k, v in mapping.items() if k != "1"}
    spellings = ["1", "01"] if canonical_first else ["01", "1"]
    mapping.clear()
    mapping.update(rest)
    mapping[spellings[0]] = first_value
    mapping[spellings[1]] = second_value
    data = _json_bytes(doc)

    # Pydantic reads both as 1 and keeps the later one, silently: the file then
    # has the expected count of entries, so it passes vLLM's checks.
    theirs = _accepted(oracle_load(data, context))
    if level == "layer":
        assert theirs.scales[0][1] == second_value
    else:
        assert theirs.scales[1] == {int(k): v for k, v in second_value.items()}

    for ctx in (context, None):
        with pytest.raises(StructureError) as caught:
            load(data, ctx)
        assert _paths(caught.value) == [path]


@pytest.mark.parametrize(
    ("value", "read_by_pydantic"),
    [
        pytest.param(True, 1.0, id="true"),
        pytest.param(False, 0.0, id="false"),
        pytest.param("0.5", 0.5, id="string-0.5"),
        pytest.param("nan", math.nan, id="string-nan"),
        pytest.param("Infinity", math.inf, id="string-Infinity"),
        pytest.param("1e400", math.inf, id="string-1e400"),
    ],
)
@_BOTH_LOADERS
def test_non_number_scales(load: Loader, value: object, read_by_pydantic: float) -> None:
    doc, context = _base()
    _sf(doc)["0"]["1"] = value
    data = _json_bytes(doc)

    theirs = _accepted(oracle_load(data, context))
    scale = theirs.scales[0][1]
    assert type(scale) is float
    assert math.isnan(scale) if math.isnan(read_by_pydantic) else scale == read_by_pydantic

    for ctx in (context, None):
        with pytest.raises(StructureError) as caught:
            load(data, ctx)
        assert _paths(caught.value) == [f'{SF}["0"]["1"]']
        assert caught.value.problems[0].message == f"expected a number, got {json.dumps(value)}"


@pytest.mark.parametrize("tp_rank", [2, 3, -1])
@_BOTH_LOADERS
def test_context_tp_rank_out_of_range(load: Loader, tp_rank: int, tmp_path: Path) -> None:
    doc, context = _base()
    context["tp_rank"] = tp_rank
    data = _json_bytes(doc)

    theirs = _rejected(oracle_load(data, context))
    assert type(theirs) is KeyError
    assert theirs.args == (tp_rank,)

    with pytest.raises(ValidationError) as caught:
        load(data, context)
    assert _paths(caught.value) == ["$"]
    assert f"tp_rank {tp_rank} is outside 0..1" in caught.value.problems[0].message

    assert _loaders(_write(tmp_path, data), context) == ([], [])


@pytest.mark.parametrize("missing", ["tp_size", "tp_rank", "num_hidden_layers"])
@_BOTH_LOADERS
def test_context_missing_key(load: Loader, missing: str) -> None:
    doc, context = _base()
    del context[missing]
    data = _json_bytes(doc)

    theirs = _rejected(oracle_load(data, context))
    assert type(theirs) is KeyError
    assert theirs.args == (missing,)

    with pytest.raises(ValidationError) as caught:
        load(data, context)
    assert _paths(caught.value) == ["$"]
    assert f'"{missing}"' in caught.value.problems[0].message


@_BOTH_LOADERS
def test_context_without_model_type_is_not_missing_a_key(load: Loader) -> None:
    doc, context = _base()
    del context["model_type"]
    data = _json_bytes(doc)
    assert _values(load(data, context)) == _accepted(oracle_load(data, context)).scales


# What quantparams writes, vLLM reads ---------------------------------------------


@settings(max_examples=80)
@given(schema=schemas())
def test_vllm_reads_dumps_output(schema: QuantParamSchema) -> None:
    data = quantparams.dumps(schema)
    theirs = _accepted(oracle_load(data, None))
    assert theirs.scales == _values(schema)
    assert theirs.model_type == schema.model_type
    assert theirs.dtype == schema.kv_cache.dtype


@settings(
    max_examples=25,
    # Every example overwrites the one file in tmp_path.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(schema=schemas(dense=True))
def test_vllm_loader_reads_dump_output(schema: QuantParamSchema, tmp_path: Path) -> None:
    path = tmp_path / "kv_cache_scales.json"
    quantparams.dump(schema, path)
    ranks = schema.kv_cache.scaling_factor
    layer_count = len(ranks[0])
    for rank, layers in ranks.items():
        args = (path, rank, len(ranks), layer_count, schema.model_type)
        assert oracle_loader(*args) == list(layers.items())
        assert kv_cache_scales_loader(*args) == list(layers.items())


@settings(max_examples=80)
@given(schema=schemas())
@_BOTH_LOADERS
def test_dumps_loads_round_trip(load: Loader, schema: QuantParamSchema) -> None:
    data = quantparams.dumps(schema)
    again = load(data)
    assert again == schema
    assert _values(again) == _values(schema)
    assert quantparams.dumps(again) == data
