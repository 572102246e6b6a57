"""The classes and their validate pass, used from Python."""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest

from quantparams import (
    KVCacheQuantSchema,
    QuantParamSchema,
    StructureError,
    ValidationContext,
    ValidationError,
)


def _doc(scales: dict[int, dict[int, float]], model_type: str | None = "llama") -> QuantParamSchema:
    return QuantParamSchema(model_type, KVCacheQuantSchema("float8_e4m3fn", scales))


SOUND = {0: {0: 0.5, 1: 0.25}, 1: {0: 0.75, 1: 1.0}}


def test_classes_are_frozen() -> None:
    doc = _doc(SOUND)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        doc.model_type = "mistral"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        doc.kv_cache.dtype = "float16"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ValidationContext(1, 0, 1).tp_size = 2  # type: ignore[misc]


def test_validate_returns_the_instance() -> None:
    doc = _doc(SOUND)
    assert doc.validate() is doc
    assert doc.validate(ValidationContext(2, 1, 2, "llama")) is doc
    assert doc.kv_cache.validate(ValidationContext(2, 0, 2)) is doc.kv_cache


@pytest.mark.parametrize(
    "context",
    [
        ValidationContext(tp_size=2, tp_rank=0, num_hidden_layers=2),
        {"tp_size": 2, "tp_rank": 1, "num_hidden_layers": 2},
        {"tp_size": 2, "tp_rank": 1, "num_hidden_layers": 2, "model_type": None},
        {"tp_size": 2, "tp_rank": 1, "num_hidden_layers": 2, "model_type": "llama", "other": 1},
        None,
        {},
    ],
)
def test_context_forms_accepted(context: Any) -> None:
    doc = _doc(SOUND)
    assert doc.validate(context) is doc
    assert doc == _doc(SOUND)


def test_empty_mapping_context_asks_for_no_engine_checks() -> None:
    # As vLLM reads its context: an empty dict is no context at all.
    doc = _doc({0: {5: 0.5}})
    assert doc.validate({}) is doc
    with pytest.raises(ValidationError, match="Could not find KV cache scales for layer 0 in TP rank 0"):
        doc.validate({"tp_size": 1, "tp_rank": 0, "num_hidden_layers": 1})


def test_validation_lists_every_problem_relative_to_the_section() -> None:
    kv = KVCacheQuantSchema("int8", {0: {0: math.nan, 1: -math.inf}, 2: {0: 0.5}})
    with pytest.raises(ValidationError) as caught:
        kv.validate(ValidationContext(2, 0, 2))
    assert [str(p) for p in caught.value.problems] == [
        "$.dtype: Loaded scaling factors intended for KV cache dtype = int8 rather than float8_e4m3fn!",
        '$.scaling_factor["0"]["0"]: scale must be a finite number > 0, got NaN',
        '$.scaling_factor["0"]["1"]: scale must be a finite number > 0, got -Infinity',
        '$.scaling_factor["2"]: KV cache scales map for TP rank 2 is malformed. Expected 2 layers, got 1.',
        '$.scaling_factor["1"]: KV cache scales map for TP rank 1 not found.',
    ]


def test_kv_section_ignores_the_model_type_of_the_context() -> None:
    kv = KVCacheQuantSchema("float8_e4m3fn", {0: {0: 0.5}})
    context = ValidationContext(1, 0, 1, model_type="anything")
    assert kv.validate(context) is kv
    with pytest.raises(ValidationError, match="Model type is anything but loaded scaling factors"):
        QuantParamSchema("llama", kv).validate(context)


def test_constructed_wrong_types_are_reported_by_validate() -> None:
    doc = QuantParamSchema(3, KVCacheQuantSchema(None, {0: {0: 0.5}}))  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as caught:
        doc.validate()
    assert [str(p) for p in caught.value.problems] == [
        "$.model_type: expected a string or null, got 3",
        "$.kv_cache.dtype: Loaded scaling factors intended for KV cache dtype = None rather than float8_e4m3fn!",
    ]


def test_kv_cache_must_be_the_section_class() -> None:
    with pytest.raises(StructureError) as caught:
        QuantParamSchema("llama", {"dtype": "float8_e4m3fn"})
    assert str(caught.value) == '$.kv_cache: expected a KVCacheQuantSchema, got {"dtype":"float8_e4m3fn"}'


def test_context_of_the_wrong_kind() -> None:
    with pytest.raises(ValidationError) as caught:
        _doc(SOUND).validate([2, 0, 2])  # type: ignore[arg-type]
    assert str(caught.value) == "$: engine context must be a ValidationContext or a mapping, got [2,0,2]"


def test_every_rank_of_a_sparse_file_checked_against_a_context() -> None:
    doc = _doc({1: {0: 0.5, 1: 0.5}, 0: {1: 0.5, 0: 0.5}})
    assert [doc.validate(ValidationContext(2, rank, 2)) for rank in (0, 1)] == [doc, doc]
    with pytest.raises(ValidationError):
        doc.validate(ValidationContext(2, 0, 3))


def test_the_error_is_a_value_error_with_problems() -> None:
    with pytest.raises(ValueError, match="TP rank 1 not found"):
        _doc({0: {0: 0.5}}).validate(ValidationContext(2, 0, 1))


def test_revalidation_for_each_rank_is_consistent() -> None:
    # The soundness of the scales is cached on the immutable maps; the answer
    # for a second context must not depend on what the first one saw.
    doc = _doc({0: {0: 0.5}, 1: {0: -1.0}})
    for _ in range(2):
        for rank in (0, 1):
            with pytest.raises(ValidationError, match=r'\["1"\]\["0"\]: scale must be'):
                doc.validate(ValidationContext(2, rank, 1))
