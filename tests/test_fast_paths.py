"""The fast paths never decide differently from the precise ones.

Loading and validating take shortcuts for the common case (dense maps of
floats, a context that fits). Each shortcut may only say "sound" when the
precise path, which names every problem, finds none, and what it builds must
equal what the precise path builds.
"""

from __future__ import annotations

import json
import math
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import quantparams._fast
from agreement import assert_loaders_agree
from contexts import contexts
from quantparams import (
    KVCacheQuantSchema,
    LayerScales,
    QuantParamSchema,
    RankScales,
    StructureError,
    ValidationError,
    converter,
    loads,
)
from quantparams._checks import (
    context_problems,
    document_problems,
    fits_context,
    is_sound_document,
    is_sound_kv_cache,
    kv_cache_problems,
)
from quantparams._schema import ContextLike
from quantparams._storage import key_strings
from strategies import FP8, SoundDocument, fresh_choice, schemas, sound_documents

# Any value a JSON layer map may hold, weighted towards scales and near-misses.
_LAYER_VALUES: st.SearchStrategy[object] = st.one_of(
    st.floats(min_value=1e-4, max_value=1e2),
    st.floats(),
    st.sampled_from([0.0, -0.0, -1.0, math.nan, math.inf, -math.inf, 1.7e308, 5e-324]),
    st.integers(min_value=-5, max_value=10**30),
    fresh_choice([2**1100, True, False, None, "0.5", [], {}]),
)


@st.composite
def _json_layer_maps(draw: st.DrawFn) -> dict[str, Any]:
    """A parsed JSON layer map: usually keys "0".."n-1" in order, sometimes not."""
    n = draw(st.integers(0, 40))
    values = draw(
        st.one_of(
            st.lists(st.floats(min_value=1e-4, max_value=1e2), min_size=n, max_size=n),
            st.lists(_LAYER_VALUES, min_size=n, max_size=n),
        )
    )
    keys = key_strings(n)
    shape = draw(st.sampled_from(["canonical", "shuffled", "renamed"]))
    if shape == "shuffled":
        keys = draw(st.permutations(keys))
    elif shape == "renamed" and n:
        keys = [*keys[:-1], draw(st.sampled_from(["01", "-1", str(n), " 0", "1.0", str(n + 5000)]))]
    return dict(zip(keys, values))


def _document(scaling_factor: object, model_type: object = None) -> bytes:
    doc = {"model_type": model_type, "kv_cache": {"dtype": FP8, "scaling_factor": scaling_factor}}
    # json, not orjson: it writes NaN, Infinity and ints beyond 64 bits, which
    # the loaders must refuse alike.
    return json.dumps(doc).encode()


@given(_json_layer_maps(), st.booleans())
def test_a_layer_map_loads_alike_on_both_paths(obj: dict[str, Any], validate: bool) -> None:
    data = _document({"0": obj})
    assert_loaders_agree(data, validate=validate)
    assert_loaders_agree(data, {"tp_size": 1, "tp_rank": 0, "num_hidden_layers": max(len(obj), 1)})


@given(st.lists(_json_layer_maps(), max_size=4), st.booleans())
def test_a_rank_map_loads_alike_on_both_paths(layer_maps: list[dict[str, Any]], validate: bool) -> None:
    data = _document(dict(zip(key_strings(len(layer_maps)), layer_maps)))
    assert_loaders_agree(data, validate=validate)
    layers = len(layer_maps[0]) if layer_maps else 1
    assert_loaders_agree(data, {"tp_size": len(layer_maps), "tp_rank": 0, "num_hidden_layers": layers})


@pytest.mark.parametrize(
    "scales",
    [
        b'{"0": 0.0, "1": "0.5"}',
        b'{"0": 0, "1": true}',
        b'{"0": 0.5, "1": 0.0, "2": null}',
        b'{"0": 0.0, "1": [1]}',
    ],
)
def test_a_zero_scale_does_not_hide_a_wrong_type_after_it(scales: bytes) -> None:
    doc = (
        b'{"model_type": null, "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": %s}}}' % scales
    )
    with pytest.raises(StructureError) as caught:
        loads(doc)
    assert "expected a number" in str(caught.value)


@pytest.mark.parametrize("scale", [b"0.0", b"0", b"0e5", b"0.000", b"1e-400", b"-0.5", b"-0.0", b"-1e-5"])
def test_a_zero_or_negative_scale_is_refused_with_or_without_a_minus_sign_in_the_file(scale: bytes) -> None:
    doc = b'{"model_type": null, "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": {"0": 0.5, "1": %s}}}}'
    with pytest.raises(ValidationError) as caught:
        loads(doc % scale)
    assert '$.kv_cache.scaling_factor["0"]["1"]' in str(caught.value)


@pytest.mark.parametrize(
    "text", [b"1e309", b"-1e400", b"9e999", b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"nan"]
)
def test_orjson_never_hands_over_a_non_finite_float(text: bytes) -> None:
    # The fast path takes orjson's floats as finite on the strength of this.
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(b'{"0": ' + text + b"}")


def _precise_problems(schema: QuantParamSchema, ctx: ContextLike) -> list[str]:
    context, problems = context_problems(ctx)
    kv = schema.kv_cache
    problems += document_problems(schema.model_type, kv.dtype, kv.scaling_factor, context)
    return [str(p) for p in problems]


@given(schemas(), contexts())
def test_fast_check_says_sound_only_when_the_precise_checks_find_nothing(
    schema: QuantParamSchema, ctx: ContextLike
) -> None:
    precise = _precise_problems(schema, ctx)
    kv = schema.kv_cache
    if is_sound_document(schema.model_type, kv.dtype, kv.scaling_factor, ctx):
        assert precise == []
    if is_sound_kv_cache(kv.dtype, kv.scaling_factor, ctx):
        context, problems = context_problems(ctx)
        assert problems + kv_cache_problems(kv.dtype, kv.scaling_factor, context, ()) == []
    if precise:
        with pytest.raises(ValidationError) as caught:
            schema.validate(ctx)
        assert [str(p) for p in caught.value.problems] == precise
    else:
        schema.validate(ctx)


@given(sound_documents())
def test_a_sound_file_takes_the_fast_path_for_its_own_context(sound: SoundDocument) -> None:
    schema = loads(json.dumps(sound.document))
    kv = schema.kv_cache
    ctx: ContextLike
    for ctx in (sound.context, sound.validation_context(), None, {}):
        if kv.scaling_factor._is_dense and all(layers._is_dense for layers in kv.scaling_factor.values()):
            assert is_sound_document(schema.model_type, kv.dtype, kv.scaling_factor, ctx)
        schema.validate(ctx)


def test_the_fitting_shape_answers_from_the_facts_of_the_maps() -> None:
    ranks = RankScales({0: {0: 0.5, 1: 0.5}, 1: {0: 0.5, 1: 0.5}})
    assert ranks._count_layers() == 2
    assert ranks._fitting_shape() == (2, 2)
    ctx = {"tp_size": 2, "tp_rank": 1, "num_hidden_layers": 2}
    assert fits_context(ctx, ranks._fitting_shape())
    assert not fits_context(dict(ctx, tp_size=1, tp_rank=0), ranks._fitting_shape())
    assert not fits_context(dict(ctx, num_hidden_layers=3), ranks._fitting_shape())
    uneven = RankScales({0: {0: 0.5, 1: 0.5}, 1: {0: 0.5}})
    assert uneven._count_layers() == -1
    assert uneven._fitting_shape() == (2, -1)
    assert not fits_context(dict(ctx, num_hidden_layers=1), uneven._fitting_shape())
    # Rank 1's layers are 1 and 2, not 0 and 1: the fast check says no, and
    # the precise checks find that rank 0 has what it needs.
    shifted = RankScales({0: {0: 0.5, 1: 0.5}, 1: {1: 0.5, 2: 0.5}})
    assert shifted._count_layers() == 2
    assert shifted._fitting_shape() == (-1, -1)
    assert not fits_context(ctx, shifted._fitting_shape())
    shifted_schema = QuantParamSchema(None, KVCacheQuantSchema(FP8, shifted))
    assert shifted_schema.validate({"tp_size": 2, "tp_rank": 0, "num_hidden_layers": 2}) is shifted_schema
    with pytest.raises(ValidationError):
        shifted_schema.validate({"tp_size": 2, "tp_rank": 1, "num_hidden_layers": 2})
    assert RankScales({1: {0: 0.5}, 0: {0: 0.5}})._fitting_shape() == (-1, -1)
    assert RankScales({})._count_layers() == -1
    assert RankScales({})._fitting_shape() == (0, -1)


@pytest.mark.parametrize(
    ("stored", "layer_count"),
    [
        ({"0": {"0": 0.5, "1": 0.25}, "1": {"0": 0.75, "1": 1.0}}, 2),
        ({"0": {"0": 0.5, "1": 0.25}, "1": {"0": 0.75}}, -1),
        ({"0": {}}, 0),
        ({}, -1),
    ],
)
def test_ranks_built_on_sound_layer_dicts_are_the_ranks_built_on_their_maps(
    stored: dict[str, dict[str, float]], layer_count: int
) -> None:
    # The fast path hands RankScales._trusted the parsed dicts of sound layer
    # maps, which it builds in place: each must be what LayerScales._trusted
    # builds, and the whole what the maps learn of themselves when asked.
    layer_dicts: dict[str, Any] = {rank: dict(layers) for rank, layers in stored.items()}
    ranks = RankScales._trusted(layer_dicts, True, layer_count)
    assert ranks._stored is layer_dicts
    oracle = RankScales(
        {int(rank): {int(layer): scale for layer, scale in layers.items()} for rank, layers in stored.items()}
    )
    for (key, layers), oracle_layers in zip(layer_dicts.items(), oracle.values()):
        assert type(layers) is LayerScales
        assert layers._stored == stored[key]
        built = LayerScales._trusted(dict(stored[key]), True, True)
        assert layers._facts == built._facts
        oracle_layers.is_sound()
        assert layers._facts == oracle_layers._facts
    fresh_facts = ranks._facts
    assert ranks._layer_count == layer_count
    oracle.is_sound()
    assert oracle._count_layers() == layer_count
    assert ranks.is_sound()
    assert ranks._count_layers() == layer_count
    assert ranks._facts == fresh_facts == oracle._facts
    assert ranks == oracle


def test_a_document_built_past_attrs_is_the_one_attrs_builds() -> None:
    # The fast path writes the fields itself: it must write them all.
    assert [f.name for f in attrs.fields(QuantParamSchema)] == ["model_type", "kv_cache"]
    assert [f.name for f in attrs.fields(KVCacheQuantSchema)] == ["dtype", "scaling_factor"]
    sound = {0: {0: 0.5, 1: 0.25}, 1: {0: 0.75, 1: 1.0}}
    ranks = RankScales(sound)
    for model_type in ("llama", None):
        built = quantparams._fast._document(model_type, FP8, ranks)
        assert built == QuantParamSchema(model_type, KVCacheQuantSchema(FP8, sound))
        assert hash(built) == hash(QuantParamSchema(model_type, KVCacheQuantSchema(FP8, sound)))
        assert built.kv_cache.scaling_factor is ranks
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            built.model_type = "mistral"  # type: ignore[misc]
        assert built.validate() is built


@pytest.mark.parametrize("layer_count", [1023, 1024, 1025, 5000])
def test_layer_maps_past_the_key_table_take_the_fast_path(layer_count: int) -> None:
    layers = {str(i): 0.5 + i for i in range(layer_count)}
    doc = {"model_type": None, "kv_cache": {"dtype": FP8, "scaling_factor": {"0": layers}}}
    schema = loads(orjson.dumps(doc), {"tp_size": 1, "tp_rank": 0, "num_hidden_layers": layer_count})
    scales = schema.kv_cache.scaling_factor[0]
    assert isinstance(scales, LayerScales)
    assert scales._is_dense
    assert scales[layer_count - 1] == layer_count - 0.5
    assert layer_count not in scales


def test_integer_scales_become_floats() -> None:
    doc = b'{"model_type":null,"kv_cache":{"dtype":"float8_e4m3fn","scaling_factor":{"0":{"0":1,"1":0.5}}}}'
    layers = loads(doc).kv_cache.scaling_factor[0]
    assert isinstance(layers, LayerScales)
    assert [(k, v, type(v)) for k, v in layers.items()] == [(0, 1.0, float), (1, 0.5, float)]
    assert orjson.loads(orjson.dumps(layers._json_form())) == {"0": 1.0, "1": 0.5}


def test_an_integer_scale_too_large_for_a_float_is_a_structure_problem() -> None:
    # orjson refuses such a number itself; a caller's own dicts may hold one.
    doc = {"model_type": None, "kv_cache": {"dtype": FP8, "scaling_factor": {"0": {"0": 10**400}}}}
    with pytest.raises(StructureError) as caught:
        converter.structure(doc, QuantParamSchema)
    [only] = [str(p) for p in caught.value.problems]
    assert only.startswith('$.kv_cache.scaling_factor["0"]["0"]: expected a number, got 10000')
    assert len(only) < 120
