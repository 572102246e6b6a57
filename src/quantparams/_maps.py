"""Read-only integer-keyed maps: the two levels of a scaling-factor map.

`RankScales` maps a TP rank to its `LayerScales`, which maps a layer index to
that layer's scale. Both guarantee their shape once built: keys are
non-negative `int`s, scales are `float`s, a rank's value is a `LayerScales`.
Whether the scales are sound (finite, > 0) is for `validate` to say; the maps
only remember the answer once it is known. Their storage, and how it is
built from any mapping, is `_storage`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, ItemsView, Iterator, Mapping, ValuesView
from typing import Any, Generic, TypeVar

from ._errors import JsonPath, Problem, StructureError
from ._storage import canonical_key, collect, is_dense, python_key, scale

__all__ = ["LayerScales", "RankScales"]

V = TypeVar("V")

_INF = math.inf
_MISSING: Any = object()


class _IntKeyMap(Mapping[int, V], Generic[V]):
    """Storage and the read-only Mapping protocol shared by both levels."""

    __slots__ = ("_facts", "_stored")

    # Canonical key strings to values, in source order (see `_storage`); and
    # what is known of the map, as bits: whether those keys are exactly
    # "0".."n-1" in order (_DENSE), and whether every value is sound (_SOUND)
    # once that is known (_KNOWN). One slot, so that a map costs little to
    # build. Only this module reads the bits: others ask the map.
    _stored: dict[str, V]
    _facts: int

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    @property
    def _is_dense(self) -> bool:
        """True when the keys are exactly 0 .. len - 1, in order."""
        return bool(self._facts & _DENSE)

    def _learn_sound(self, sound: bool) -> bool:
        """Keep the answer of is_sound(), and give it."""
        _set_facts(self, (self._facts & ~_SOUND) | _KNOWN | (_SOUND if sound else 0))
        return sound

    def _get(self, key: object) -> Any:
        if isinstance(key, int) and not isinstance(key, bool):
            try:
                return self._stored.get(str(key), _MISSING)
            except ValueError:  # too long to spell: no key is
                pass
        return _MISSING

    def __getitem__(self, key: int) -> V:
        value: V = self._get(key)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return self._get(key) is not _MISSING

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self._stored))) if self._facts & _DENSE else map(int, self._stored)

    def __len__(self) -> int:
        return len(self._stored)

    def _iter_items(self) -> Iterator[tuple[int, V]]:
        return zip(iter(self), self._stored.values())

    # The generic Mapping views call __getitem__ once per key; these do not.
    def items(self) -> ItemsView[int, V]:
        return _Items(self)

    def values(self) -> ValuesView[V]:
        return _Values(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _IntKeyMap):
            return self._stored == other._stored
        if isinstance(other, Mapping):
            return dict(self._iter_items()) == dict(other.items())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._iter_items()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self._iter_items())!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (dict(self._iter_items()),))

    def _sorted_stored(self) -> dict[str, V]:
        """The stored dict with keys in numeric order: itself when dense."""
        stored = self._stored
        if self._facts & _DENSE:
            return stored
        # Keys are unique, so sorting the pairs never compares two values.
        return {str(k): v for k, v in sorted(self._iter_items())}


# Our __setattr__ refuses every assignment; building an instance writes its
# slots through their descriptors, the cheapest way past it.
_new_object = object.__new__


def _slot_setter(cls: type, name: str) -> Callable[[object, Any], None]:
    setter: Callable[[object, Any], None] = vars(cls)[name].__set__
    return setter


_set_stored = _slot_setter(_IntKeyMap, "_stored")
_set_facts = _slot_setter(_IntKeyMap, "_facts")

_DENSE, _KNOWN, _SOUND = 1, 2, 4
# Of a RankScales, once its layer count is known: every rank's layer keys are
# 0..n-1 in order.
_LAYERS_DENSE = 8


def _dense_bit(stored: dict[str, Any]) -> int:
    return _DENSE if is_dense(stored) else 0


class _Items(ItemsView[int, V]):
    __slots__ = ()
    _mapping: _IntKeyMap[V]

    def __iter__(self) -> Iterator[tuple[int, V]]:
        return self._mapping._iter_items()


class _Values(ValuesView[V]):
    __slots__ = ()
    _mapping: _IntKeyMap[V]

    def __iter__(self) -> Iterator[V]:
        return iter(self._mapping._stored.values())


def _is_sound_scale(scale: float) -> bool:
    return 0.0 < scale < _INF


class LayerScales(_IntKeyMap[float]):
    """Read-only map from layer index to that layer's per-tensor KV-cache scale."""

    __slots__ = ()

    def __init__(self, scales: Mapping[int, float]) -> None:
        stored, problems = collect(scales, (), "layer index to scale", python_key, scale)
        if stored is None:
            raise StructureError(problems)
        _set_stored(self, stored)
        _set_facts(self, _dense_bit(stored))

    @classmethod
    def _trusted(cls, stored: dict[str, float], dense: bool, sound: bool | None = None) -> LayerScales:
        """The map whose storage is `stored`, as it is: no check, no copy.

        The one way this library's own code builds a map from parts it has
        checked itself: `stored` maps canonical key strings to floats, and no
        one else holds it. `dense` says whether its keys are "0".."n-1" in
        order; `sound` whether every scale is finite and > 0 (None: not known
        yet). Later calls trust these facts without looking again.
        """
        self = _new_object(cls)
        _set_stored(self, stored)
        facts = _DENSE if dense else 0
        if sound is not None:
            facts |= (_KNOWN | _SOUND) if sound else _KNOWN
        _set_facts(self, facts)
        return self

    @classmethod
    def from_json(cls, obj: object, path: JsonPath = ()) -> tuple[LayerScales | None, list[Problem]]:
        """The map for a parsed JSON object, or every problem that prevents it.

        The map holds a copy: later changes to `obj` do not reach it.
        """
        stored, problems = collect(obj, path, "layer index to scale", canonical_key, scale)
        if stored is None:
            return None, problems
        return cls._trusted(stored, is_dense(stored)), []

    def _json_form(self) -> dict[str, float]:
        """The map as a JSON object, string keys in numeric order. Shared: never mutate it."""
        return self._sorted_stored()

    def is_sound(self) -> bool:
        """True when every scale is finite and > 0. Cached: the map never changes."""
        facts = self._facts
        if facts & _KNOWN:
            return bool(facts & _SOUND)
        values = self._stored.values()
        # min() catches zero and negatives; the sum turns a NaN or an
        # infinity anywhere into a non-finite total. Only a total that
        # overflows from finite values needs the look at each value.
        sound = not values or (min(values) > 0.0 and sum(values) < _INF)
        if not sound:
            sound = all(map(_is_sound_scale, values))
        return self._learn_sound(sound)

    def _unsound(self) -> Iterator[tuple[int, float]]:
        """The (layer, scale) pairs whose scale is not finite and > 0."""
        return ((k, v) for k, v in self._iter_items() if not _is_sound_scale(v))


def _python_layers(value: object, path: JsonPath) -> tuple[LayerScales | None, list[Problem]]:
    if isinstance(value, LayerScales):
        return value, []
    stored, problems = collect(value, path, "layer index to scale", python_key, scale)
    if stored is None:
        return None, problems
    return LayerScales._trusted(stored, is_dense(stored)), []


# A map's forms for writing, once asked: the model type and dtype of the last
# whole document asked of `_document_form` (_UNSET until one is), that
# document, and the map's JSON form.
_UNSET: Any = object()
_Forms = tuple[object, object, "dict[str, Any] | None", dict[str, dict[str, float]]]


class RankScales(_IntKeyMap[LayerScales]):
    """Read-only map from TP rank to that rank's `LayerScales`."""

    __slots__ = ("_forms", "_layer_count", "_shape")

    # Facts about a map that never changes, beside `_facts`: the number of
    # layers every rank has (-1 when ranks differ, None until known); and,
    # unset until asked (fewer slots to write on every load), its shape for
    # `_fitting_shape` and its forms for writing.
    _layer_count: int | None
    _shape: tuple[int, int]
    _forms: _Forms

    def __init__(self, ranks: Mapping[int, Mapping[int, float]]) -> None:
        stored, problems = collect(ranks, (), "TP rank to layer scales", python_key, _python_layers)
        if stored is None:
            raise StructureError(problems)
        _set_stored(self, stored)
        _set_facts(self, _dense_bit(stored))
        _set_layer_count(self, None)

    @classmethod
    def _trusted(
        cls, stored: dict[str, Any], dense: bool, sound_layer_count: int | None = None
    ) -> RankScales:
        """The map whose storage is `stored`, as it is: no check, no copy.

        The one way this library's own code builds a map from parts it has
        checked itself: `stored` maps canonical key strings to the ranks'
        layer maps, and no one else holds it. `dense` says whether its keys
        are "0".."n-1" in order. Without `sound_layer_count` its values are
        `LayerScales`, whose facts are learnt when asked. With it, they are
        the dicts that sound layer maps keyed "0".."n-1" in order would keep
        (floats, each finite and > 0), and each is replaced here by the map
        built on it; `sound_layer_count` is the number of layers every rank
        has (-1 when ranks differ). Later calls trust these facts without
        looking again.
        """
        self = _new_object(cls)
        _set_stored(self, stored)
        if sound_layer_count is None:
            _set_facts(self, _DENSE if dense else 0)
        else:
            # Built here rather than through LayerScales._trusted: this runs
            # once per rank, on every load of a sound file.
            for key, layers in stored.items():
                built = _new_object(LayerScales)
                _set_stored(built, layers)
                _set_facts(built, _SURE_LAYERS)
                stored[key] = built
            _set_facts(self, _ALL_LAYERS_SURE | _DENSE if dense else _ALL_LAYERS_SURE)
        _set_layer_count(self, sound_layer_count)
        return self

    @classmethod
    def from_json(cls, obj: object, path: JsonPath = ()) -> tuple[RankScales | None, list[Problem]]:
        """The map for a parsed JSON object, or every problem that prevents it.

        The map holds a copy: later changes to `obj` do not reach it.
        """
        stored, problems = collect(obj, path, "TP rank to layer scales", canonical_key, LayerScales.from_json)
        if stored is None:
            return None, problems
        return cls._trusted(stored, is_dense(stored)), []

    def is_sound(self) -> bool:
        """True when every rank's scales are finite and > 0. Cached."""
        facts = self._facts
        if facts & _KNOWN:
            return bool(facts & _SOUND)
        return self._learn_sound(all(layers.is_sound() for layers in self._stored.values()))

    def _count_layers(self) -> int:
        """The number of layers every rank has; -1 when ranks differ. Cached,
        with whether every rank's layers are keyed 0..n-1 in order."""
        count = self._layer_count
        if count is None:
            layer_maps = self._stored.values()
            counts = set(map(len, layer_maps))
            count = counts.pop() if len(counts) == 1 else -1
            if all(layers._facts & _DENSE for layers in layer_maps):
                _set_facts(self, self._facts | _LAYERS_DENSE)
            _set_layer_count(self, count)
        return count

    def _fitting_shape(self) -> tuple[int, int]:
        """The number of ranks and the number of layers every rank has (-1
        when ranks differ), when the ranks are keyed 0..n-1 in order and each
        rank's layers 0..count-1; else (-1, -1). What `_checks.fits_context`
        needs of a map, answered from cached facts. Cached."""
        try:
            return self._shape
        except AttributeError:  # not asked for yet
            pass
        count = self._layer_count
        if count is None:
            count = self._count_layers()
        shape = (len(self._stored), count) if self._facts & _FITTING == _FITTING else _NOT_FITTING
        _set_shape(self, shape)
        return shape

    def _json_form(self) -> dict[str, dict[str, float]]:
        """The map as a JSON object, string keys in numeric order at both levels.

        Built once and shared, as are the layer maps in it: never mutate it.
        """
        try:
            return self._forms[3]
        except AttributeError:  # not asked for yet
            pass
        form = {key: layers._json_form() for key, layers in self._sorted_stored().items()}
        _set_forms(self, (_UNSET, _UNSET, None, form))
        return form

    def _document_form(self, model_type: object, dtype: object) -> dict[str, Any] | None:
        """A whole document holding this map, as JSON-ready values; None when
        a scale is not finite and > 0, which JSON cannot hold or a reader
        refuses. Shared: never mutate it.

        The last one asked for is kept: writing the same file again (the usual
        case) then costs orjson's time and nothing more.
        """
        try:
            forms = self._forms
            if forms[0] is model_type and forms[1] is dtype:
                # Kept only once the scales were found sound, which they stay.
                return forms[2]
        except AttributeError:  # not asked for yet
            pass
        if not self.is_sound():
            return None
        form = self._json_form()
        document = {"model_type": model_type, "kv_cache": {"dtype": dtype, "scaling_factor": form}}
        _set_forms(self, (model_type, dtype, document, form))
        return document


_FITTING = _DENSE | _LAYERS_DENSE
_NOT_FITTING = (-1, -1)
# What `RankScales._trusted` is told of layer maps given as dicts: of each
# one, and of the ranks that hold them.
_SURE_LAYERS = _DENSE | _KNOWN | _SOUND
_ALL_LAYERS_SURE = _KNOWN | _SOUND | _LAYERS_DENSE
_set_layer_count = _slot_setter(RankScales, "_layer_count")
_set_forms = _slot_setter(RankScales, "_forms")
_set_shape = _slot_setter(RankScales, "_shape")
