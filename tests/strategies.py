"""Hypothesis strategies shared by the tests.

`sound_documents()` draws files that vLLM accepts and a user would call sound,
as JSON-ready Python values, with the engine context they match.
`schemas()` draws `QuantParamSchema` objects built through the public
constructors.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

from hypothesis import strategies as st

from quantparams import KVCacheQuantSchema, QuantParamSchema, ValidationContext

__all__ = [
    "FIELD_NAMES",
    "FP8",
    "SoundDocument",
    "fresh_choice",
    "json_values",
    "model_types",
    "positive_scales",
    "schemas",
    "sound_documents",
]

FP8 = "float8_e4m3fn"

T = TypeVar("T")


def fresh_choice(values: Sequence[T]) -> st.SearchStrategy[T]:
    """One of `values`, as a deep copy: `sampled_from` hands out the very objects it holds.

    A test that edits a drawn list or dict in place would otherwise edit the
    strategy's own constant, so the same choices would later draw a different
    value and Hypothesis would stop with `FlakyStrategyDefinition`.
    """
    return st.sampled_from(values).map(copy.deepcopy)


# The schema's own keys: an unknown extra key must not be one of them.
FIELD_NAMES = frozenset({"model_type", "kv_cache", "dtype", "scaling_factor"})

_SMALLEST_SUBNORMAL = 5e-324
_SMALLEST_NORMAL = 2.2250738585072014e-308
_LARGEST_FINITE = 1.7976931348623157e308

# Values a scale takes in real files (FP8-E4M3's largest finite value is 448),
# and the edges of what a double can hold.
_NOTABLE_SCALES = (
    _SMALLEST_SUBNORMAL,
    _SMALLEST_NORMAL,
    _LARGEST_FINITE,
    1e-45,
    1.0 / 448.0,
    0.0152,
    1.0,
    448.0,
    1e300,
)


def positive_scales() -> st.SearchStrategy[float | int]:
    """Finite scales > 0: typical, tiny (subnormal), huge, and integer-valued.

    Integer-valued scales come both as JSON integers (Python `int`, up to well
    past 64 bits) and as integral floats such as 2.0.
    """
    return st.one_of(
        st.floats(min_value=1e-4, max_value=1e2),
        st.floats(min_value=0.0, exclude_min=True, allow_infinity=False),
        st.sampled_from(_NOTABLE_SCALES),
        st.integers(min_value=1, max_value=1000),
        st.integers(min_value=1, max_value=10**30),
        st.integers(min_value=1, max_value=2**20).map(float),
    )


def model_types() -> st.SearchStrategy[str | None]:
    """A model type: null, a usual name, or any text."""
    return st.one_of(
        st.none(),
        st.sampled_from(["llama", "mistral", "qwen2", "mixtral", ""]),
        st.text(max_size=12),
    )


def json_values() -> st.SearchStrategy[Any]:
    """Small JSON values, as the value of an unknown extra key.

    Numbers stay finite and integers within 64 bits: every JSON reader agrees on those.
    """
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.text(max_size=6), children, max_size=3),
        ),
        max_leaves=6,
    )


def _extra_keys() -> st.SearchStrategy[dict[str, Any]]:
    names = st.text(max_size=10).filter(lambda name: name not in FIELD_NAMES)
    return st.dictionaries(names, json_values(), max_size=3)


def _with_extras(fields: dict[str, Any], extras: dict[str, Any], extras_first: bool) -> dict[str, Any]:
    return {**extras, **fields} if extras_first else {**fields, **extras}


class SoundDocument(NamedTuple):
    """A sound file as JSON-ready values, and the engine context it matches."""

    document: dict[str, Any]
    # What vLLM passes to `model_validate`: tp_size, tp_rank,
    # num_hidden_layers, and model_type (the file's, None, or left out).
    context: dict[str, Any]

    @property
    def tp_size(self) -> int:
        return int(self.context["tp_size"])

    @property
    def num_hidden_layers(self) -> int:
        return int(self.context["num_hidden_layers"])

    @property
    def model_type(self) -> str | None:
        model_type: str | None = self.document["model_type"]
        return model_type

    def validation_context(self) -> ValidationContext:
        ctx = self.context
        return ValidationContext(
            tp_size=ctx["tp_size"],
            tp_rank=ctx["tp_rank"],
            num_hidden_layers=ctx["num_hidden_layers"],
            model_type=ctx.get("model_type"),
        )

    def expected_scales(self) -> dict[int, dict[int, float]]:
        """The document's scales as a sound reader must return them."""
        sf = self.document["kv_cache"]["scaling_factor"]
        return {
            int(rank): {int(layer): float(s) for layer, s in layers.items()} for rank, layers in sf.items()
        }


@st.composite
def sound_documents(
    draw: st.DrawFn,
    *,
    tp_sizes: st.SearchStrategy[int] | None = None,
    layer_counts: st.SearchStrategy[int] | None = None,
) -> SoundDocument:
    """A sound document and its matching context.

    Ranks and layers are each 0..n-1, sometimes listed out of order (vLLM
    accepts any order). Unknown extra keys may appear beside the fields of the
    top-level object and of `kv_cache`; the maps below hold only ranks and
    layers, so they cannot carry extra keys.
    """
    if tp_sizes is None:
        tp_sizes = st.one_of(st.sampled_from([1, 2, 4, 8]), st.integers(1, 8))
    if layer_counts is None:
        layer_counts = st.one_of(st.sampled_from([1, 2, 32, 64]), st.integers(1, 64))
    tp_size = draw(tp_sizes, label="tp_size")
    layer_count = draw(layer_counts, label="num_hidden_layers")
    tp_rank = draw(st.integers(0, tp_size - 1), label="tp_rank")
    model_type = draw(model_types(), label="model_type")
    shuffled = draw(st.booleans(), label="shuffled")

    def order(n: int) -> list[int]:
        return list(draw(st.permutations(range(n)))) if shuffled else list(range(n))

    scaling_factor: dict[str, dict[str, float | int]] = {}
    for rank in order(tp_size):
        scales = draw(st.lists(positive_scales(), min_size=layer_count, max_size=layer_count))
        scaling_factor[str(rank)] = {str(layer): scales[layer] for layer in order(layer_count)}

    kv_cache = _with_extras(
        {"dtype": FP8, "scaling_factor": scaling_factor}, draw(_extra_keys()), draw(st.booleans())
    )
    document = _with_extras(
        {"model_type": model_type, "kv_cache": kv_cache}, draw(_extra_keys()), draw(st.booleans())
    )

    context: dict[str, Any] = {"tp_size": tp_size, "tp_rank": tp_rank, "num_hidden_layers": layer_count}
    # vLLM always passes model_type (maybe None); a caller of quantparams may leave it out.
    context_model_type = draw(st.sampled_from(["same", "none", "absent"]), label="context model_type")
    if context_model_type == "same":
        context["model_type"] = model_type
    elif context_model_type == "none":
        context["model_type"] = None
    return SoundDocument(document, context)


def _scale_maps(
    draw: st.DrawFn, dense: bool, scales: st.SearchStrategy[float | int]
) -> dict[int, dict[int, float | int]]:
    if dense:
        tp_size = draw(st.integers(1, 8), label="tp_size")
        layer_count = draw(st.integers(1, 64), label="num_hidden_layers")
        return {
            rank: dict(enumerate(draw(st.lists(scales, min_size=layer_count, max_size=layer_count))))
            for rank in range(tp_size)
        }
    # Any non-negative int keys, in any order, empty maps included: what the
    # constructors accept and `dumps` writes, though no engine would load it.
    keys = st.one_of(st.integers(0, 100), st.integers(0, 10**20))
    return draw(
        st.dictionaries(keys, st.dictionaries(keys, scales, max_size=16), max_size=6),
        label="scaling_factor",
    )


@st.composite
def schemas(draw: st.DrawFn, *, dense: bool | None = None) -> QuantParamSchema:
    """A `QuantParamSchema` built through the public constructors, sound without a context.

    `dense=True`: ranks 0..tp_size-1 (tp_size 1..8), each with layers
    0..n-1 (n 1..64), as an engine needs. `dense=False`: arbitrary
    non-negative keys. `None`: either.
    """
    if dense is None:
        dense = draw(st.booleans(), label="dense")
    model_type = draw(model_types(), label="model_type")
    scaling_factor = _scale_maps(draw, dense, positive_scales())
    return QuantParamSchema(model_type, KVCacheQuantSchema(FP8, scaling_factor))
