"""Read-only integer-keyed maps: the two levels of a scaling-factor map.

`RankScales` maps a TP rank to its `LayerScales`, which maps a layer index to
that layer's scale. Both guarantee their shape once built: keys are
non-negative `int`s, scales are `float`s, a rank's value is a `LayerScales`.
Whether the scales are sound (finite, > 0) is for `validate` to say; the maps
only remember the answer once it is known.

A map whose keys are exactly 0..n-1 in order (as in every sound file) is
"dense": it is stored as a dict from the canonical key strings "0".."n-1" to
the values, which is what orjson hands over for such a map. Keeping that dict
costs nothing on load, makes it the map's JSON form for free, and answers "are
layers 0..n-1 all present?" with a length check. Any other map is "sparse": a
dict from int keys, in source order.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Callable, ItemsView, Iterator, Mapping, ValuesView
from typing import Any, Generic, TypeVar, cast

import orjson

from ._errors import MapKey, Path, Problem, StructureError, describe, problem

__all__ = ["LayerScales", "RankScales", "canonical_key", "dense_layers", "key_strings"]

V = TypeVar("V")

_INF = math.inf
_NUMBER_TYPES = frozenset({float, int})
# A float method that returns its float unchanged and raises TypeError for
# anything else (int, bool, str, ...): a type check that runs inside min().
_FLOAT_ONLY = float.conjugate

_JSON_KEY = 'a key like "0" or "17" (a non-negative integer without sign, spaces or leading zeros)'
_PYTHON_KEY = "a non-negative integer key"

# "0", "1", ...: the canonical spellings of keys, grown on demand. A lookup here
# is much faster than parsing a key, and refuses "01", "+1", " 1" by design.
_key_strings: list[str] = []
_key_values: dict[str, int] = {}
# key_strings(n) for the few sizes files actually have, so that checking a
# map's keys does not copy the table first.
_key_lists: dict[int, list[str]] = {}
_KEY_LISTS_KEPT = 64


def key_strings(n: int) -> list[str]:
    """The canonical key strings "0" .. str(n - 1), in order. Shared: never mutate it."""
    keys = _key_lists.get(n)
    if keys is None:
        keys = _new_key_list(n)
    return keys


def _new_key_list(n: int) -> list[str]:
    with _growing:
        if n > len(_key_strings):
            _grow_key_table(n)
    keys = _key_strings[:n]
    if len(_key_lists) < _KEY_LISTS_KEPT:
        _key_lists[n] = keys
    return keys


# Held while the table grows: two threads growing it at once could otherwise
# publish a smaller table after a larger one, and dense maps index the table
# by key without a bounds check.
_growing = threading.Lock()


def _grow_key_table(n: int) -> None:
    global _key_strings, _key_values
    size = max(n, 2 * len(_key_strings), 1024)
    # The key objects orjson itself hands out: it keeps keys in a cache
    # and returns the same objects again, so comparing a parsed map's keys
    # with this table is mostly a pointer comparison. Where two keys share
    # a cache slot the later one stays: parse the small, common ones last.
    members = ",".join(f'"{i}":0' for i in reversed(range(size)))
    strings = list(reversed(orjson.loads(f"{{{members}}}")))
    # Replace, never mutate: a reader in another thread sees a whole table.
    _key_values = dict(zip(strings, range(size)))
    _key_strings = strings


def canonical_key(key: object) -> int | None:
    """The int a JSON key stands for, or None unless it is canonical decimal."""
    if type(key) is not str:
        return None
    value = _key_values.get(key)
    if value is not None:
        return value
    if _is_canonical_decimal(key):
        try:
            return int(key)
        except ValueError:  # longer than int() will convert: no rank or layer is
            return None
    return None


def _is_canonical_decimal(key: str) -> bool:
    # ASCII digits with no leading zero. isdecimal() alone lets through other
    # scripts' digits, which int() would also accept.
    return key.isascii() and key.isdecimal() and (key == "0" or key[0] != "0")


def python_key(key: object) -> int | None:
    """The key as an int, or None unless it is a non-negative integer (not a bool)."""
    if isinstance(key, int) and not isinstance(key, bool) and key >= 0:
        return int(key)
    return None


class _IntKeyMap(Mapping[int, V], Generic[V]):
    """Storage and the read-only Mapping protocol shared by both levels."""

    __slots__ = ("_dense", "_sparse")

    # Exactly one is set: `_dense` maps "0".."n-1", in that order, to the
    # values of keys 0..n-1; or `_sparse` holds every key and value in source order.
    _dense: dict[str, V] | None
    _sparse: dict[int, V] | None

    def _init(self, dense: dict[str, V] | None, sparse: dict[int, V] | None) -> None:
        _set_dense(self, dense)
        _set_sparse(self, sparse)

    def _init_items(self, items: list[tuple[int, V]]) -> None:
        if all(k == i for i, (k, _) in enumerate(items)):
            self._init(dict(zip(key_strings(len(items)), [v for _, v in items])), None)
        else:
            self._init(None, dict(items))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    @property
    def is_dense(self) -> bool:
        """True when the keys are exactly 0 .. len - 1, in order."""
        return self._dense is not None

    def __getitem__(self, key: int) -> V:
        dense = self._dense
        if dense is None:
            return cast("dict[int, V]", self._sparse)[key]
        if type(key) is int and 0 <= key < len(dense):
            # The table holds at least len(dense) strings: the map was checked against it.
            return dense[_key_strings[key]]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        dense = self._dense
        if dense is None:
            return key in cast("dict[int, V]", self._sparse)
        return type(key) is int and 0 <= key < len(dense)

    def __iter__(self) -> Iterator[int]:
        dense = self._dense
        if dense is None:
            return iter(cast("dict[int, V]", self._sparse))
        return iter(range(len(dense)))

    def __len__(self) -> int:
        dense = self._dense
        return len(dense) if dense is not None else len(cast("dict[int, V]", self._sparse))

    def _iter_items(self) -> Iterator[tuple[int, V]]:
        dense = self._dense
        if dense is None:
            return iter(cast("dict[int, V]", self._sparse).items())
        return zip(range(len(dense)), dense.values())

    def _values(self) -> ValuesView[V]:
        dense = self._dense
        return (dense if dense is not None else cast("dict[int, V]", self._sparse)).values()

    # The generic Mapping views call __getitem__ once per key; these do not.
    def items(self) -> ItemsView[int, V]:
        return _Items(self)

    def values(self) -> ValuesView[V]:
        return _Values(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _IntKeyMap):
            if self._dense is not None and other._dense is not None:
                return self._dense == other._dense
            return dict(self._iter_items()) == dict(other._iter_items())
        if isinstance(other, Mapping):
            return dict(self._iter_items()) == dict(other.items())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._iter_items()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self._iter_items())!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (dict(self._iter_items()),))


# Our __setattr__ refuses every assignment; building an instance writes its
# slots through their descriptors, the cheapest way past it.
_new_object = object.__new__


def _slot_setter(cls: type, name: str) -> Callable[[object, Any], None]:
    setter: Callable[[object, Any], None] = vars(cls)[name].__set__
    return setter


_set_dense = _slot_setter(_IntKeyMap, "_dense")
_set_sparse = _slot_setter(_IntKeyMap, "_sparse")


class _Items(ItemsView[int, V]):
    __slots__ = ()
    _mapping: _IntKeyMap[V]

    def __iter__(self) -> Iterator[tuple[int, V]]:
        return self._mapping._iter_items()


class _Values(ValuesView[V]):
    __slots__ = ()
    _mapping: _IntKeyMap[V]

    def __iter__(self) -> Iterator[V]:
        return iter(self._mapping._values())


KeyParser = Callable[[object], "int | None"]


def _collect(
    obj: object,
    path: Path,
    what: str,
    parse_key: KeyParser,
    parse_value: Callable[[object, Path], tuple[V | None, list[Problem]]],
) -> tuple[list[tuple[int, V]], list[Problem]]:
    """Every (key, value) of a mapping, or every problem with its keys and values."""
    if not isinstance(obj, Mapping):
        return [], [problem(path, f"expected an object mapping {what}, got {describe(obj)}")]
    expected_key = _JSON_KEY if parse_key is canonical_key else _PYTHON_KEY
    items: list[tuple[int, V]] = []
    problems: list[Problem] = []
    for key, value in obj.items():
        at = (*path, MapKey(key))
        parsed_key = parse_key(key)
        if parsed_key is None:
            problems.append(problem(at, _bad_key(expected_key, key)))
        parsed_value, value_problems = parse_value(value, at)
        problems += value_problems
        if parsed_key is not None and parsed_value is not None:
            items.append((parsed_key, parsed_value))
    return items, problems


def _bad_key(expected: str, key: object) -> str:
    # A canonical JSON key is refused only when int() will not convert it.
    if expected is _JSON_KEY and type(key) is str and _is_canonical_decimal(key):
        return f"expected {expected} of a plausible size, got one of {len(key)} digits"
    return f"expected {expected}, got {describe(key)}"


def _scale(value: object, path: Path) -> tuple[float | None, list[Problem]]:
    if type(value) is float:
        return value, []
    # Any real number (an int, numpy's floats) but never a bool or text.
    if not isinstance(value, bool) and isinstance(value, numbers.Real):
        try:
            return float(value), []
        except (OverflowError, ValueError, TypeError):
            pass
    return None, [problem(path, f"expected a number, got {describe(value)}")]


def _is_sound_scale(scale: float) -> bool:
    return 0.0 < scale < _INF


class LayerScales(_IntKeyMap[float]):
    """Read-only map from layer index to that layer's per-tensor KV-cache scale."""

    __slots__ = ("_sound",)

    # Whether every scale is finite and > 0: None until known. The map never
    # changes, so the answer is kept.
    _sound: bool | None

    def __init__(self, scales: Mapping[int, float]) -> None:
        built, problems = LayerScales._build(scales, (), python_key)
        if built is None:
            raise StructureError(problems)
        self._init(built._dense, built._sparse)
        _set_layers_sound(self, None)

    @classmethod
    def _new(
        cls, dense: dict[str, float] | None, sparse: dict[int, float] | None, sound: bool | None
    ) -> LayerScales:
        self = _new_object(cls)
        _set_dense(self, dense)
        _set_sparse(self, sparse)
        _set_layers_sound(self, sound)
        return self

    @classmethod
    def _build(
        cls, obj: object, path: Path, parse_key: KeyParser
    ) -> tuple[LayerScales | None, list[Problem]]:
        """The map for any mapping, or every problem that prevents it."""
        items, problems = _collect(obj, path, "layer index to scale", parse_key, _scale)
        if problems:
            return None, problems
        self = cls._new(None, None, None)
        self._init_items(items)
        return self, []

    @classmethod
    def from_json(
        cls, obj: object, path: Path = (), *, from_orjson: bool = False, unsigned: bool = False
    ) -> tuple[LayerScales | None, list[Problem]]:
        """The map for a parsed JSON value, or every problem that prevents it.

        `from_orjson=True` says `obj` is what `orjson.loads` has just returned
        and no one else holds it: its floats are finite, and its dict may
        become the map's storage as it is, rather than a copy. With it,
        `unsigned=True` says the text parsed holds no `-`, so no number in
        it is negative.
        """
        built = dense_layers(obj, from_orjson, unsigned)
        if built is not None:
            return built, []
        return cls._build(obj, path, canonical_key)

    def _json_form(self) -> dict[str, float]:
        """The map as a JSON object, string keys in numeric order. Shared: never mutate it."""
        dense = self._dense
        if dense is not None:
            return dense
        return {str(k): v for k, v in sorted(cast("dict[int, float]", self._sparse).items())}

    def is_sound(self) -> bool:
        """True when every scale is finite and > 0. Cached: the map never changes."""
        sound = self._sound
        if sound is None:
            values = self._values()
            # min() catches zero and negatives; the sum turns a NaN or an
            # infinity anywhere into a non-finite total. Only a total that
            # overflows from finite values needs the look at each value.
            sound = not values or (min(values) > 0.0 and sum(values) < _INF)
            if not sound:
                sound = all(map(_is_sound_scale, values))
            _set_layers_sound(self, sound)
        return sound

    def unsound(self) -> Iterator[tuple[int, float]]:
        """The (layer, scale) pairs whose scale is not finite and > 0."""
        return ((k, v) for k, v in self._iter_items() if not _is_sound_scale(v))


_set_layers_sound = _slot_setter(LayerScales, "_sound")
# True, False or None (not known yet), without a call to is_sound().
_known_sound: Callable[[LayerScales], bool | None] = vars(LayerScales)["_sound"].__get__


def dense_layers(obj: object, from_orjson: bool, unsigned: bool) -> LayerScales | None:
    """The map for the common case, a JSON object with keys "0".."n-1" in
    order and number values; None when the precise path must decide.

    The flags say what `LayerScales.from_json` says they do.
    """
    if type(obj) is not dict:
        return None
    values = obj.values()
    if list(obj) != key_strings(len(values)):
        return None
    if not values:
        return LayerScales._new({}, None, True)
    try:
        # One pass checks that every value is a float and > 0.
        if from_orjson and unsigned and all(map(_FLOAT_ONLY, values)):
            # Without a sign in the text, a float that is not zero is > 0:
            # all() asks that for less than min() does.
            sound = True
        else:
            # all() stops at the first zero, before the type check has seen
            # every value; min() sees them all.
            sound = min(map(_FLOAT_ONLY, values)) > 0.0
    except TypeError:
        # JSON integers are scales too; anything else is for the precise path.
        if not set(map(type, values)) <= _NUMBER_TYPES:
            return None
        try:
            obj = dict(zip(key_strings(len(values)), map(float, values)))
        except OverflowError:
            return None
        return LayerScales._new(obj, None, None)
    if from_orjson:
        # orjson refuses NaN, Infinity and numbers beyond a double's range, so
        # its floats are finite; and no one else holds its dicts, so the parsed
        # dict becomes the map's storage and JSON form as it is.
        return LayerScales._new(obj, None, True if sound else None)
    # A NaN may hide from min(); the sum catches it, and infinities. A map must
    # not change when its source does: it keeps a copy.
    sound = sound and sum(values) < _INF
    # Unsound scales are left for is_sound() to confirm one by one.
    return LayerScales._new(obj.copy(), None, True if sound else None)


class RankScales(_IntKeyMap[LayerScales]):
    """Read-only map from TP rank to that rank's `LayerScales`."""

    __slots__ = ("_document", "_json", "_layer_count", "_sound")

    # Facts about a map that never changes: whether every rank's scales are
    # sound (None until known), the number of layers every rank has (-1
    # when ranks differ, None until known), its JSON form (None until asked),
    # and the last whole document asked of `_document_form`.
    _sound: bool | None
    _layer_count: int | None
    _json: dict[str, dict[str, float]] | None
    _document: tuple[object, object, dict[str, Any]] | None

    def __init__(self, ranks: Mapping[int, Mapping[int, float]]) -> None:
        built, problems = RankScales._build(ranks, (), python_key, _python_layers)
        if built is None:
            raise StructureError(problems)
        self._init(built._dense, built._sparse)
        self._no_facts_yet()

    @classmethod
    def _new(cls, dense: dict[str, LayerScales] | None, sparse: dict[int, LayerScales] | None) -> RankScales:
        self = _new_object(cls)
        self._init(dense, sparse)
        self._no_facts_yet()
        return self

    def _no_facts_yet(self) -> None:
        _set_ranks_sound(self, None)
        _set_layer_count(self, None)
        _set_json(self, None)
        _set_document(self, None)

    @classmethod
    def _build(
        cls,
        obj: object,
        path: Path,
        parse_key: KeyParser,
        parse_layers: Callable[[object, Path], tuple[LayerScales | None, list[Problem]]],
    ) -> tuple[RankScales | None, list[Problem]]:
        items, problems = _collect(obj, path, "TP rank to layer scales", parse_key, parse_layers)
        if problems:
            return None, problems
        self = cls._new(None, None)
        self._init_items(items)
        return self, []

    @classmethod
    def from_json(
        cls, obj: object, path: Path = (), *, from_orjson: bool = False, unsigned: bool = False
    ) -> tuple[RankScales | None, list[Problem]]:
        """The map for a parsed JSON value, or every problem that prevents it.

        `from_orjson=True` says `obj` is what `orjson.loads` has just returned
        and no one else holds it or the objects in it; `unsigned=True`, that
        the text held no `-`: see `LayerScales.from_json`.
        """
        if type(obj) is dict and list(obj) == key_strings(len(obj)):
            ranks = {}
            for key, layer_json in obj.items():
                layers = dense_layers(layer_json, from_orjson, unsigned)
                if layers is None:
                    break
                ranks[key] = layers
            else:
                return cls._from_dense(ranks), []
        return cls._build(obj, path, canonical_key, LayerScales.from_json)

    @classmethod
    def _from_dense(cls, ranks: dict[str, LayerScales]) -> RankScales:
        """The map whose dense storage is `ranks`, keyed "0".."n-1" in order: adopted, not copied."""
        built = cls._new(ranks, None)
        # Every rank's scales already known sound: so are the ranks'.
        if all(map(_known_sound, ranks.values())):
            _set_ranks_sound(built, True)
        return built

    def is_sound(self) -> bool:
        """True when every rank's scales are finite and > 0. Cached."""
        sound = self._sound
        if sound is None:
            sound = all(layers.is_sound() for layers in self._values())
            _set_ranks_sound(self, sound)
        return sound

    def layer_count(self) -> int:
        """The number of layers every rank has; -1 when ranks differ. Cached."""
        count = self._layer_count
        if count is None:
            counts = set(map(len, self._values()))
            count = counts.pop() if len(counts) == 1 else -1
            _set_layer_count(self, count)
        return count

    def fits(self, tp_size: int, layer_count: int, tp_rank: int) -> bool:
        """True when the ranks are exactly 0..tp_size-1, each has `layer_count`
        layers, and those of `tp_rank` (which must be in range) are exactly
        0..layer_count-1: what an engine needs, answered from cached facts."""
        dense = self._dense
        return (
            dense is not None
            and len(dense) == tp_size
            and (self._layer_count or self.layer_count()) == layer_count
            and dense[_key_strings[tp_rank]]._dense is not None
        )

    def _json_form(self) -> dict[str, dict[str, float]]:
        """The map as a JSON object, string keys in numeric order at both levels.

        Built once and shared, as are the layer maps in it: never mutate it.
        """
        form = self._json
        if form is None:
            dense = self._dense
            if dense is not None:
                form = {key: layers._json_form() for key, layers in dense.items()}
            else:
                sparse = cast("dict[int, LayerScales]", self._sparse)
                form = {str(k): v._json_form() for k, v in sorted(sparse.items())}
            _set_json(self, form)
        return form

    def _document_form(self, model_type: object, dtype: object) -> dict[str, Any]:
        """A whole document holding this map, as JSON-ready values. Shared: never mutate it.

        The last one asked for is kept: writing the same file again (the usual
        case) then costs orjson's time and nothing more.
        """
        kept = self._document
        if kept is not None and kept[0] is model_type and kept[1] is dtype:
            return kept[2]
        document = {
            "model_type": model_type,
            "kv_cache": {"dtype": dtype, "scaling_factor": self._json_form()},
        }
        _set_document(self, (model_type, dtype, document))
        return document


_set_ranks_sound = _slot_setter(RankScales, "_sound")
_set_layer_count = _slot_setter(RankScales, "_layer_count")
_set_json = _slot_setter(RankScales, "_json")
_set_document = _slot_setter(RankScales, "_document")


def _python_layers(value: object, path: Path) -> tuple[LayerScales | None, list[Problem]]:
    if isinstance(value, LayerScales):
        return value, []
    return LayerScales._build(value, path, python_key)
