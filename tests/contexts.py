"""Engine contexts, sound and hostile, for the fuzzer and the property tests.

`hostile_context()` makes one from a `random.Random`, as the fuzzer draws
everything; `contexts()` is the same for Hypothesis.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from hypothesis import strategies as st

from quantparams import ValidationContext

# Context field values no engine passes, which the checks must name rather
# than crash on: sizes below 1, a bool or a float where an int belongs, text,
# bytes, containers, nothing, an object.
HOSTILE_CONTEXT_VALUES: tuple[object, ...] = (
    *(-1, 0, -(2**63), True, False, 1.0, 1.5, math.nan, math.inf),
    *("2", "", b"2", None, [], {}, [2], object()),
)
# Sizes past any model, which no check may count up to one by one. Left out
# of Hypothesis's draws: an int of 5000 digits cannot be printed as an example.
HUGE_CONTEXT_SIZES: tuple[int, ...] = (10**9, 2**63, 10**5000, -(10**5000))
# What a caller may pass where a context belongs, none of the kinds it can be.
NOT_CONTEXTS: tuple[object, ...] = ([2, 0, 2], (2, 0, 2), 42, "tp_size=2", b"{}", object(), {1, 2}, 1.5, True)
_PLAUSIBLE_SIZES = (1, 2, 3, 7, 1024, 10_000)


class ReadOnlyMapping(Mapping[str, Any]):
    """A context that is a Mapping but not a dict."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


def _hostile_field(rng: random.Random, name: str, huge: bool) -> Any:
    values = [*HOSTILE_CONTEXT_VALUES, *_PLAUSIBLE_SIZES, *(HUGE_CONTEXT_SIZES if huge else ())]
    if name == "model_type":
        values += ["llama", "x" * rng.choice((100, 10_000, 100_000)), "\ud800", 5]
    return copy.deepcopy(rng.choice(values))


def hostile_context(
    rng: random.Random, fitting: Mapping[str, Any] | None = None, *, huge: bool = False
) -> Any:
    """An engine context as callers pass one, and as they should not.

    None or an empty mapping (no engine checks); the context `fitting` (the
    one a document was made for; else plausible sizes) as a dict or a
    `ValidationContext`; those fields with hostile values, some left out, as a
    dict, another Mapping or a `ValidationContext`; or no context at all.
    `huge` lets sizes past any model in. No two calls share a mutable value.
    """
    roll = rng.random()
    if roll < 0.3:
        return None
    if roll < 0.35:
        return {}
    if fitting is not None and rng.random() < 0.7:
        fields = dict(fitting)
    else:
        tp_size = rng.choice((1, 2, 4, 8))
        fields = {
            "tp_size": tp_size,
            "tp_rank": rng.randrange(tp_size),
            "num_hidden_layers": rng.choice((1, 32)),
            "model_type": rng.choice([None, "llama", "mistral"]),
        }
    if roll < 0.55:
        return ValidationContext(**fields)
    if roll < 0.7:
        if rng.random() < 0.3:
            fields.pop("model_type", None)
        return fields
    if roll < 0.95:
        for name in rng.sample(list(fields), rng.randrange(1, len(fields) + 1)):
            fields[name] = _hostile_field(rng, name, huge)
        if rng.random() < 0.2:
            del fields[rng.choice(list(fields))]
        if rng.random() < 0.1:
            fields["extra"] = _hostile_field(rng, "extra", huge)
        kind = rng.random()
        if kind < 0.2:
            # Hostile values on purpose: the context must refuse them.
            return ValidationContext(
                **{k: fields.get(k) for k in ("tp_size", "tp_rank", "num_hidden_layers")}  # type: ignore[arg-type]
            )
        if kind < 0.3:
            return MappingProxyType(fields)
        if kind < 0.4:
            return ReadOnlyMapping(fields)
        return fields
    return copy.deepcopy(rng.choice(NOT_CONTEXTS))


def contexts(fitting: Mapping[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """`hostile_context()` drawn by Hypothesis, without the sizes past any model."""
    return st.randoms(use_true_random=False).map(lambda rng: hostile_context(rng, fitting))
