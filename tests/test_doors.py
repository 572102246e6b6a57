"""Every public way to build a document checks what it claims: none takes a caller's word.

The bad scales below (a negative one and a NaN) reach a map through each public
door; the map must say it is not sound, and `validate` and `dumps` must refuse
any document holding it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pytest

import quantparams
from quantparams import (
    KVCacheQuantSchema,
    LayerScales,
    QuantParamSchema,
    RankScales,
    ValidationError,
    converter,
)

FP8 = "float8_e4m3fn"
BAD_JSON: dict[str, float] = {"0": -1.0, "1": math.nan}
BAD: dict[int, float] = {0: -1.0, 1: math.nan}
PROBLEMS = [
    '$.kv_cache.scaling_factor["0"]["0"]: scale must be a finite number > 0, got -1.0',
    '$.kv_cache.scaling_factor["0"]["1"]: scale must be a finite number > 0, got NaN',
]


def _layers_from_json() -> LayerScales:
    layers, problems = LayerScales.from_json(dict(BAD_JSON))
    assert problems == []
    assert layers is not None
    return layers


def _ranks_from_json() -> RankScales:
    ranks, problems = RankScales.from_json({"0": dict(BAD_JSON)})
    assert problems == []
    assert ranks is not None
    return ranks


# Each door, giving the rank map of a document whose rank 0 holds the bad scales.
DOORS: dict[str, Callable[[], Mapping[int, Mapping[int, float]]]] = {
    "LayerScales()": lambda: RankScales({0: LayerScales(BAD)}),
    "LayerScales.from_json": lambda: RankScales({0: _layers_from_json()}),
    "RankScales()": lambda: RankScales({0: BAD}),
    "RankScales.from_json": _ranks_from_json,
    "KVCacheQuantSchema(dicts)": lambda: KVCacheQuantSchema(FP8, {0: BAD}).scaling_factor,
    "converter.structure(LayerScales)": lambda: RankScales({0: converter.structure(BAD_JSON, LayerScales)}),
    "converter.structure(RankScales)": lambda: converter.structure({"0": BAD_JSON}, RankScales),
    "converter.structure(KVCacheQuantSchema)": lambda: (
        converter.structure(
            {"dtype": FP8, "scaling_factor": {"0": BAD_JSON}}, KVCacheQuantSchema
        ).scaling_factor
    ),
    "converter.structure(QuantParamSchema)": lambda: (
        converter.structure(
            {"model_type": None, "kv_cache": {"dtype": FP8, "scaling_factor": {"0": BAD_JSON}}},
            QuantParamSchema,
        ).kv_cache.scaling_factor
    ),
}


@pytest.mark.parametrize("door", DOORS.values(), ids=list(DOORS))
def test_bad_scales_are_refused_through_every_door(door: Callable[[], Any]) -> None:
    ranks = door()
    assert isinstance(ranks, RankScales)
    layers = ranks[0]
    assert list(layers) == [0, 1]
    assert layers[0] == -1.0
    assert math.isnan(layers[1])
    assert not layers.is_sound()
    assert not ranks.is_sound()
    assert [layer for layer, _ in layers._unsound()] == [0, 1]
    kv = KVCacheQuantSchema(FP8, ranks)
    with pytest.raises(ValidationError) as caught:
        kv.validate()
    assert [str(p) for p in caught.value.problems] == [p.replace("$.kv_cache.", "$.", 1) for p in PROBLEMS]
    schema = QuantParamSchema("llama", kv)
    for check in (schema.validate, lambda: quantparams.dumps(schema)):
        with pytest.raises(ValidationError) as caught:
            check()
        assert [str(p) for p in caught.value.problems] == PROBLEMS


@pytest.mark.parametrize("cls", [LayerScales, RankScales])
@pytest.mark.parametrize("flag", ["from_orjson", "unsigned"])
def test_from_json_takes_no_word_of_trust(cls: type[LayerScales | RankScales], flag: str) -> None:
    with pytest.raises(TypeError):
        cls.from_json({}, **{flag: True})  # type: ignore[arg-type]


def test_from_json_keeps_a_copy_of_what_it_is_given() -> None:
    source = {"0": 0.5, "1": 0.25}
    layers, _ = LayerScales.from_json(source)
    assert layers is not None
    assert layers.is_sound()
    source["0"] = -1.0
    source["2"] = math.nan
    assert dict(layers) == {0: 0.5, 1: 0.25}
    assert layers.is_sound()
    nested = {"0": {"0": 0.5}}
    ranks, _ = RankScales.from_json(nested)
    assert ranks is not None
    nested["0"]["0"] = -1.0
    assert ranks == {0: {0: 0.5}}
    assert ranks.is_sound()


def test_a_negative_scale_in_a_file_is_refused_by_loads_and_by_a_later_validate() -> None:
    data = b'{"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": {"0": -1.0, "1": 0.5}}}}'
    with pytest.raises(ValidationError) as caught:
        quantparams.loads(data)
    [only] = [str(p) for p in caught.value.problems]
    assert only == PROBLEMS[0]
    unchecked = quantparams.loads(data, validate=False)
    assert not unchecked.kv_cache.scaling_factor[0].is_sound()
    for check in (unchecked.validate, lambda: quantparams.dumps(unchecked)):
        with pytest.raises(ValidationError) as caught:
            check()
        assert [str(p) for p in caught.value.problems] == [PROBLEMS[0]]
