"""The read-only scale maps: shape on construction, Mapping behaviour, immutability."""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Callable, Mapping

import pytest

from quantparams import KVCacheQuantSchema, LayerScales, RankScales, StructureError


def test_dense_map_behaves_like_its_dict() -> None:
    layers = LayerScales({0: 0.5, 1: 0.25, 2: 2.0})
    assert layers._is_dense
    assert layers == {0: 0.5, 1: 0.25, 2: 2.0}
    assert layers == {0: 0.5, 1: 0.25, 2: 2.0}
    assert list(layers) == [0, 1, 2]
    assert list(layers.items()) == [(0, 0.5), (1, 0.25), (2, 2.0)]
    assert list(layers.values()) == [0.5, 0.25, 2.0]
    assert list(layers.keys()) == [0, 1, 2]
    assert len(layers) == 3
    assert layers[2] == 2.0
    assert 1 in layers
    assert 3 not in layers
    assert -1 not in layers
    assert "1" not in layers  # type: ignore[comparison-overlap]  # a string key is never found
    assert layers.get(7) is None
    assert (1, 0.25) in layers.items()
    with pytest.raises(KeyError):
        layers[3]
    with pytest.raises(KeyError):
        layers[-1]


def test_sparse_map_keeps_source_order() -> None:
    layers = LayerScales({3: 0.5, 1: 0.25})
    assert not layers._is_dense
    assert list(layers.items()) == [(3, 0.5), (1, 0.25)]
    assert layers == {1: 0.25, 3: 0.5}
    assert layers[3] == 0.5
    with pytest.raises(KeyError):
        layers[0]
    # Out of order is not dense either: iteration keeps the source order.
    swapped = LayerScales({1: 0.25, 0: 0.5})
    assert not swapped._is_dense
    assert list(swapped) == [1, 0]
    assert swapped == LayerScales({0: 0.5, 1: 0.25})


def test_integer_scales_become_floats() -> None:
    layers = LayerScales({0: 1, 1: 2.5})
    assert [type(v) for v in layers.values()] == [float, float]


@pytest.mark.parametrize("level", ["ranks", "layers"])
def test_assigning_into_the_map_raises_type_error(level: str) -> None:
    kv = KVCacheQuantSchema("float8_e4m3fn", {0: {0: 0.5}})
    target: Mapping[int, object] = kv.scaling_factor if level == "ranks" else kv.scaling_factor[0]
    with pytest.raises(TypeError):
        target[0] = 1.0  # type: ignore[index]
    with pytest.raises(TypeError):
        del target[0]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        target.update({1: 1.0})  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        target._stored = {}  # type: ignore[attr-defined]


def test_construction_copies_so_later_changes_do_not_leak() -> None:
    source = {0: {0: 0.5}}
    kv = KVCacheQuantSchema("float8_e4m3fn", source)
    source[0][0] = 9.0
    source[1] = {0: 1.0}
    assert kv.scaling_factor == {0: {0: 0.5}}


def test_built_maps_are_shared_not_copied() -> None:
    ranks = RankScales({0: {0: 0.5}})
    assert KVCacheQuantSchema("float8_e4m3fn", ranks).scaling_factor is ranks
    layers = LayerScales({0: 0.5})
    assert RankScales({0: layers})[0] is layers


def test_python_keys_and_values_are_checked_with_every_problem() -> None:
    with pytest.raises(StructureError) as caught:
        KVCacheQuantSchema(
            "float8_e4m3fn",
            {
                0: {-1: 0.5, True: 0.5, "2": 0.5, 3: "0.5", 4: True, 5: None, 6: 10**400},  # type: ignore[dict-item]
                -2: {0: 0.5},
                1: [0.5],  # type: ignore[dict-item]
            },
        )
    assert [str(p) for p in caught.value.problems] == [
        '$["0"]["-1"]: expected a non-negative integer key, got -1',
        '$["0"][true]: expected a non-negative integer key, got true',
        '$["0"]["2"]: expected a non-negative integer key, got "2"',
        '$["0"]["3"]: expected a number, got "0.5"',
        '$["0"]["4"]: expected a number, got true',
        '$["0"]["5"]: expected a number, got null',
        '$["0"]["6"]: expected a number, got 1000000000000000000000000000000000000...',
        '$["-2"]: expected a non-negative integer key, got -2',
        '$["1"]: expected an object mapping layer index to scale, got [0.5]',
    ]


def test_scaling_factor_must_be_a_mapping() -> None:
    with pytest.raises(StructureError) as caught:
        KVCacheQuantSchema("float8_e4m3fn", [0.5])  # type: ignore[arg-type]
    assert [str(p) for p in caught.value.problems] == [
        "$: expected an object mapping TP rank to layer scales, got [0.5]"
    ]


def test_non_finite_scales_are_kept_for_validate_to_report() -> None:
    layers = LayerScales({0: math.nan, 1: math.inf, 2: 0.5})
    assert not layers.is_sound()
    assert [k for k, _ in layers._unsound()] == [0, 1]
    assert LayerScales({0: 0.5}).is_sound()
    assert LayerScales({}).is_sound()


def test_finite_scales_whose_sum_overflows_are_sound() -> None:
    assert LayerScales({0: 1.7e308, 1: 1.7e308}).is_sound()


def _pickled(value: object) -> object:
    return pickle.loads(pickle.dumps(value))


@pytest.mark.parametrize("clone", [_pickled, copy.deepcopy], ids=["pickle", "deepcopy"])
def test_maps_and_schemas_survive_pickle_and_copy(clone: Callable[[object], object]) -> None:
    kv = KVCacheQuantSchema("float8_e4m3fn", {0: {0: 0.5, 1: 0.25}, 1: {2: 0.5}})
    again = clone(kv)
    assert isinstance(again, KVCacheQuantSchema)
    assert again == kv
    assert type(again.scaling_factor) is RankScales
    assert type(again.scaling_factor[0]) is LayerScales
    assert again.scaling_factor[1] == {2: 0.5}


def test_equal_maps_hash_equal() -> None:
    a = KVCacheQuantSchema("float8_e4m3fn", {0: {0: 0.5, 1: 0.25}})
    b = KVCacheQuantSchema("float8_e4m3fn", {0: {1: 0.25, 0: 0.5}})
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


def test_comparison_with_other_types() -> None:
    layers = LayerScales({0: 0.5})
    assert layers != [0.5]
    assert layers != {0: 0.25}
    assert layers != {1: 0.5}
    assert isinstance(layers, Mapping)


def test_repr_shows_the_values() -> None:
    assert repr(RankScales({0: {0: 0.5}})) == "RankScales({0: LayerScales({0: 0.5})})"


def test_a_key_too_long_to_spell_is_in_no_map() -> None:
    layers = LayerScales({0: 0.5})
    huge = 10**5000
    assert huge not in layers
    with pytest.raises(KeyError):
        layers[huge]


@pytest.mark.parametrize(("cls", "value"), [(LayerScales, 0.5), (RankScales, {0: 0.5})])
def test_building_from_a_bad_mapping_names_every_key(cls: Callable[[object], object], value: object) -> None:
    with pytest.raises(StructureError) as caught:
        cls({-1: value, "1": value, True: value, 2: value})
    assert [str(p) for p in caught.value.problems] == [
        '$["-1"]: expected a non-negative integer key, got -1',
        '$["1"]: expected a non-negative integer key, got "1"',
        "$[true]: expected a non-negative integer key, got true",
    ]


@pytest.mark.parametrize("cls", [LayerScales, RankScales])
def test_a_map_shows_the_mapping_protocol_plus_from_json_and_is_sound_only(cls: type) -> None:
    public = {name for name in dir(cls) if not name.startswith("_")}
    mapping = {name for name in dir(Mapping) if not name.startswith("_")}
    assert public - mapping == {"from_json", "is_sound"}
