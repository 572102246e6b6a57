"""The classes of a quantization parameter file, and their `validate` pass."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import attrs

from ._checks import (
    context_problems,
    document_problems,
    is_sound_document,
    is_sound_kv_cache,
    kv_cache_problems,
)
from ._context import ValidationContext
from ._errors import Problem, StructureError, ValidationError, describe
from ._maps import RankScales

__all__ = ["ContextLike", "KVCacheQuantSchema", "QuantParamSchema"]

ContextLike = ValidationContext | Mapping[str, object] | None

_Self = TypeVar("_Self", "KVCacheQuantSchema", "QuantParamSchema")


def _rank_scales(value: Mapping[int, Mapping[int, float]]) -> RankScales:
    # Built maps are immutable, so they are shared rather than copied.
    if type(value) is RankScales:
        return value
    return RankScales(value)


@attrs.frozen
class KVCacheQuantSchema:
    """The KV-cache section: the dtype and, per TP rank, each layer's scale.

    `scaling_factor` is read-only at both levels. Building one from plain
    dicts checks their shape (raising `StructureError` that names every bad
    key and value); `validate` checks the values.
    """

    dtype: str
    scaling_factor: RankScales = attrs.field(converter=_rank_scales)

    def validate(self, ctx: ContextLike = None) -> KVCacheQuantSchema:
        """Check this section, alone or against an engine context.

        Returns self; raises `ValidationError` listing every problem found.
        """
        if is_sound_kv_cache(self.dtype, self.scaling_factor, ctx):
            return self
        context, problems = context_problems(ctx)
        problems += kv_cache_problems(self.dtype, self.scaling_factor, context, ())
        return _raise_if_any(self, problems)


def _kv_cache_section(value: object) -> KVCacheQuantSchema:
    if not isinstance(value, KVCacheQuantSchema):
        message = f"expected a KVCacheQuantSchema, got {describe(value)}"
        raise StructureError([Problem("$.kv_cache", message)])
    return value


@attrs.frozen
class QuantParamSchema:
    """A whole quantization parameter file: the model type and the KV-cache section."""

    model_type: str | None
    kv_cache: KVCacheQuantSchema = attrs.field(converter=_kv_cache_section)

    def validate(self, ctx: ContextLike = None) -> QuantParamSchema:
        """Check the file, alone or against an engine context.

        Returns self; raises `ValidationError` listing every problem found.
        """
        kv = self.kv_cache
        if is_sound_document(self.model_type, kv.dtype, kv.scaling_factor, ctx):
            return self
        context, problems = context_problems(ctx)
        problems += document_problems(self.model_type, kv.dtype, kv.scaling_factor, context)
        return _raise_if_any(self, problems)


def _raise_if_any(schema: _Self, problems: list[Problem]) -> _Self:
    if problems:
        raise ValidationError(problems)
    return schema
