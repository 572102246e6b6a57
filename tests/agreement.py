"""The fast path and the precise loader agree: the one assertion the tests and the fuzzer share.

`quantparams._precise.load_precise` is the oracle: it parses, names every key
named twice, structures and validates, the slow and sure way. `loads` tries
`quantparams._fast.load_fast` first. For any input the two must give the same
document (equal values, the same key order, the same types) or the same error
class with the same problems; and whatever the fast path returns on its own,
rather than declining, must be the precise loader's document, down to the
facts its maps keep for later calls (`validate`, `dumps`), which trust them
without looking again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quantparams import LayerScales, QuantParamError, QuantParamSchema, RankScales, loads
from quantparams._fast import load_fast
from quantparams._precise import load_precise

Outcome = QuantParamSchema | tuple[type[QuantParamError], list[str]]
Loader = Callable[..., QuantParamSchema]

# The two public ways in, for suites that run on both: `loads` (fast path,
# then precise) and the precise loader alone.
LOADERS: dict[str, Loader] = {"loads": loads, "precise": load_precise}


def outcome(load: Loader, data: Any, context: Any = None, *, validate: bool = True) -> Outcome:
    """The document `load` returns, or the class and problems of what it raises."""
    try:
        return load(data, context, validate=validate)
    except QuantParamError as error:
        return type(error), [str(p) for p in error.problems]


def assert_same_document(mine: QuantParamSchema, oracle: QuantParamSchema) -> None:
    """Equal values, the same key order and the same types, at every level."""
    assert type(mine.model_type) is type(oracle.model_type)
    assert mine.model_type == oracle.model_type
    assert type(mine.kv_cache.dtype) is type(oracle.kv_cache.dtype)
    assert mine.kv_cache.dtype == oracle.kv_cache.dtype
    ranks, oracle_ranks = mine.kv_cache.scaling_factor, oracle.kv_cache.scaling_factor
    assert type(ranks) is type(oracle_ranks)
    assert list(ranks) == list(oracle_ranks)
    assert ranks._is_dense == oracle_ranks._is_dense
    for (rank, layers), oracle_layers in zip(ranks.items(), oracle_ranks.values()):
        assert type(rank) is int
        assert type(layers) is type(oracle_layers)
        # repr tells -0.0 from 0.0, which == does not (reachable with validate=False).
        assert [(k, repr(v), type(v)) for k, v in layers.items()] == [
            (k, repr(v), type(v)) for k, v in oracle_layers.items()
        ]
        assert layers._is_dense == oracle_layers._is_dense
        assert layers.is_sound() == oracle_layers.is_sound()
    assert mine == oracle
    assert _cached_facts(ranks) == _cached_facts(oracle_ranks)
    assert ranks._json_form() == oracle_ranks._json_form()
    model_type, dtype = oracle.model_type, oracle.kv_cache.dtype
    assert ranks._document_form(model_type, dtype) == oracle_ranks._document_form(model_type, dtype)


def _cached_facts(ranks: RankScales) -> tuple[object, ...]:
    """What the maps keep of themselves, once each lazily learnt fact is asked
    for: a fact one side kept must be the one the other works out."""
    layer_maps: list[LayerScales] = list(ranks.values())
    for layers in layer_maps:
        layers.is_sound()
    ranks.is_sound()
    ranks._count_layers()
    return ranks._facts, ranks._layer_count, [layers._facts for layers in layer_maps]


def assert_loaders_agree(data: Any, context: Any = None, *, validate: bool = True) -> Outcome:
    """`loads` and the fast path alone give what the precise loader gives; returns that."""
    oracle = outcome(load_precise, data, context, validate=validate)
    mine = outcome(loads, data, context, validate=validate)
    text = data.tobytes() if type(data) is memoryview else data
    # The fast path as `loads` runs it, and reading any bytes in pieces.
    fast = [load_fast(text, context, validate)]
    if type(text) is not str:
        fast.append(load_fast(text, context, validate, pieces_from=0, min_piece=0))
    if isinstance(oracle, QuantParamSchema):
        assert isinstance(mine, QuantParamSchema), mine
        assert_same_document(mine, oracle)
        for schema in fast:
            if schema is not None:
                assert_same_document(schema, oracle)
    else:
        assert mine == oracle
        assert fast == [None] * len(fast)
    return oracle
