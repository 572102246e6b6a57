"""Read-only integer-keyed maps: the two levels of a scaling-factor map.

`RankScales` maps a TP rank to its `LayerScales`, which maps a layer index to
that layer's scale. Both guarantee their shape once built: keys are
non-negative `int`s, scales are `float`s, a rank's value is a `LayerScales`.
Whether the scales are sound (finite, > 0) is for `validate` to say.

A map whose keys are exactly 0..n-1 in order (as in every sound file) is stored
as a tuple of values: much cheaper to build than a dict, and it answers "are
layers 0..n-1 all present?" in constant time. Any other map is kept as a dict,
in source order.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, ItemsView, Iterator, Mapping, ValuesView
from typing import Generic, TypeVar, cast

from ._errors import MapKey, Path, Problem, StructureError, describe, problem

__all__ = ["LayerScales", "RankScales", "canonical_key", "key_strings"]

V = TypeVar("V")

_INF = math.inf
_FLOAT_ONLY = frozenset({float})
_NUMBER_TYPES = frozenset({float, int})

_JSON_KEY = 'a key like "0" or "17" (a non-negative integer without sign, spaces or leading zeros)'
_PYTHON_KEY = "a non-negative integer key"

# "0", "1", ...: the canonical spellings of keys, grown on demand. A lookup here
# is much faster than parsing a key, and refuses "01", "+1", " 1" by design.
_key_strings: list[str] = []
_key_values: dict[str, int] = {}


def key_strings(n: int) -> list[str]:
    """The canonical key strings "0" .. str(n - 1), in order."""
    global _key_strings, _key_values
    if n > len(_key_strings):
        size = max(n, 2 * len(_key_strings), 1024)
        strings = [str(i) for i in range(size)]
        # Replace, never mutate: a reader in another thread sees a whole table.
        _key_values = dict(zip(strings, range(size)))
        _key_strings = strings
    return _key_strings[:n]


def canonical_key(key: object) -> int | None:
    """The int a JSON key stands for, or None unless it is canonical decimal."""
    if type(key) is not str:
        return None
    value = _key_values.get(key)
    if value is not None:
        return value
    # Past the table: ASCII digits with no leading zero. isdecimal() alone lets
    # through other scripts' digits, which int() would also accept.
    if key.isascii() and key.isdecimal() and (key == "0" or key[0] != "0"):
        return int(key)
    return None


def python_key(key: object) -> int | None:
    """The key as an int, or None unless it is a non-negative integer (not a bool)."""
    if isinstance(key, int) and not isinstance(key, bool) and key >= 0:
        return int(key)
    return None


class _IntKeyMap(Mapping[int, V], Generic[V]):
    """Storage and the read-only Mapping protocol shared by both levels."""

    __slots__ = ("_dense", "_sparse")

    # Exactly one is set: `_dense[i]` is the value of key i, or `_sparse`
    # holds every key and value in source order.
    _dense: tuple[V, ...] | None
    _sparse: dict[int, V] | None

    def _init(self, dense: tuple[V, ...] | None, sparse: dict[int, V] | None) -> None:
        object.__setattr__(self, "_dense", dense)
        object.__setattr__(self, "_sparse", sparse)

    def _init_items(self, items: list[tuple[int, V]]) -> None:
        if all(k == i for i, (k, _) in enumerate(items)):
            self._init(tuple(v for _, v in items), None)
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
            return dense[key]
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
        return zip(range(len(dense)), dense)

    def _value_list(self) -> tuple[V, ...] | list[V]:
        dense = self._dense
        return dense if dense is not None else list(cast("dict[int, V]", self._sparse).values())

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


class _Items(ItemsView[int, V]):
    __slots__ = ()
    _mapping: _IntKeyMap[V]

    def __iter__(self) -> Iterator[tuple[int, V]]:
        return self._mapping._iter_items()


class _Values(ValuesView[V]):
    __slots__ = ()
    _mapping: _IntKeyMap[V]

    def __iter__(self) -> Iterator[V]:
        return iter(self._mapping._value_list())


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
            problems.append(problem(at, f"expected {expected_key}, got {describe(key)}"))
        parsed_value, value_problems = parse_value(value, at)
        problems += value_problems
        if parsed_key is not None and parsed_value is not None:
            items.append((parsed_key, parsed_value))
    return items, problems


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


class LayerScales(_IntKeyMap[float]):
    """Read-only map from layer index to that layer's per-tensor KV-cache scale."""

    __slots__ = ("_json", "_sound")

    # Facts cached about a map that never changes: whether every scale is
    # finite and > 0 (None until asked), and its JSON form (None until needed).
    _sound: bool | None
    _json: dict[str, float] | None

    def __init__(self, scales: Mapping[int, float]) -> None:
        built, problems = LayerScales._build(scales, (), python_key)
        if built is None:
            raise StructureError(problems)
        self._init(built._dense, built._sparse)
        self._cache(None)

    def _cache(self, json: dict[str, float] | None) -> None:
        object.__setattr__(self, "_sound", None)
        object.__setattr__(self, "_json", json)

    @classmethod
    def _build(
        cls, obj: object, path: Path, parse_key: KeyParser
    ) -> tuple[LayerScales | None, list[Problem]]:
        """The map for any mapping, or every problem that prevents it."""
        items, problems = _collect(obj, path, "layer index to scale", parse_key, _scale)
        if problems:
            return None, problems
        self = object.__new__(cls)
        self._init_items(items)
        self._cache(None)
        return self, []

    @classmethod
    def from_json(cls, obj: object, path: Path = ()) -> tuple[LayerScales | None, list[Problem]]:
        """The map for a parsed JSON value, or every problem that prevents it."""
        # The fast case: keys "0".."n-1" in order, all values floats.
        if type(obj) is dict:
            n = len(obj)
            if list(obj) == key_strings(n):
                values = tuple(obj.values())
                types = set(map(type, values))
                if types <= _FLOAT_ONLY:
                    self = object.__new__(cls)
                    self._init(values, None)
                    # The parsed dict is already this map's JSON form.
                    self._cache(obj)
                    return self, []
                if types <= _NUMBER_TYPES:
                    self = object.__new__(cls)
                    self._init(tuple(map(float, values)), None)
                    self._cache(None)
                    return self, []
        return cls._build(obj, path, canonical_key)

    def json_form(self) -> dict[str, float]:
        """The map as a JSON object, string keys in numeric order. Shared: never mutate it."""
        json = self._json
        if json is None:
            dense = self._dense
            if dense is not None:
                json = dict(zip(key_strings(len(dense)), dense))
            else:
                json = {str(k): v for k, v in sorted(self._iter_items())}
            object.__setattr__(self, "_json", json)
        return json

    def is_sound(self) -> bool:
        """True when every scale is finite and > 0. Cached: the map never changes."""
        sound = self._sound
        if sound is None:
            values = self._value_list()
            # min() catches zero and negatives; the sum turns a NaN or an
            # infinity anywhere into a non-finite total. Only a total that
            # overflows from finite values needs the look at each value.
            sound = not values or (min(values) > 0.0 and sum(values) < _INF)
            if not sound:
                sound = next(self.unsound(), None) is None
            object.__setattr__(self, "_sound", sound)
        return sound

    def unsound(self) -> Iterator[tuple[int, float]]:
        """The (layer, scale) pairs whose scale is not finite and > 0."""
        return ((k, v) for k, v in self._iter_items() if not 0.0 < v < _INF)


class RankScales(_IntKeyMap[LayerScales]):
    """Read-only map from TP rank to that rank's `LayerScales`."""

    __slots__ = ()

    def __init__(self, ranks: Mapping[int, Mapping[int, float]]) -> None:
        built, problems = RankScales._build(ranks, (), python_key, _python_layers)
        if built is None:
            raise StructureError(problems)
        self._init(built._dense, built._sparse)

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
        self = object.__new__(cls)
        self._init_items(items)
        return self, []

    @classmethod
    def from_json(cls, obj: object, path: Path = ()) -> tuple[RankScales | None, list[Problem]]:
        """The map for a parsed JSON value, or every problem that prevents it."""
        if type(obj) is dict:
            n = len(obj)
            if list(obj) == key_strings(n):
                layers = []
                for layer_map in obj.values():
                    built, _ = LayerScales.from_json(layer_map, ())
                    if built is None:
                        break
                    layers.append(built)
                else:
                    self = object.__new__(cls)
                    self._init(tuple(layers), None)
                    return self, []
        return cls._build(obj, path, canonical_key, LayerScales.from_json)

    def json_form(self) -> dict[str, dict[str, float]]:
        """The map as a JSON object, string keys in numeric order at both levels.

        The layer maps in it are shared: never mutate them.
        """
        dense = self._dense
        if dense is not None:
            return dict(zip(key_strings(len(dense)), [m.json_form() for m in dense]))
        return {str(k): v.json_form() for k, v in sorted(self._iter_items())}


def _python_layers(value: object, path: Path) -> tuple[LayerScales | None, list[Problem]]:
    if isinstance(value, LayerScales):
        return value, []
    return LayerScales._build(value, path, python_key)
