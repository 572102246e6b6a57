"""Safe to share: loading and validating from many threads, and objects nothing can change.

A loaded document is handed between threads, cached and reused; that is only
safe if loading is independent of what other threads do at the same moment,
if the lazily cached facts behind `validate` come out the same whichever
thread computes them first, and if no route (attributes, items, mutating
methods, the dicts a caller passed in or got back) changes an object.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import attrs
import orjson
import pytest

import quantparams
from quantparams import (
    KVCacheQuantSchema,
    LayerScales,
    QuantParamError,
    QuantParamSchema,
    RankScales,
    ValidationContext,
    converter,
)

FP8 = "float8_e4m3fn"
THREADS = 8


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Switch threads far more often than usual, so that their steps interleave finely."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def _raw(ranks: Mapping[int, int] | int, layers: int = 0, *, seed: int = 0, model_type: Any = "llama") -> Any:
    """A JSON-ready document: `ranks` rank count (each with `layers` layers) or {rank: layer count}."""
    counts = dict.fromkeys(range(ranks), layers) if isinstance(ranks, int) else dict(ranks)
    return {
        "model_type": model_type,
        "kv_cache": {
            "dtype": FP8,
            "scaling_factor": {
                str(r): {str(k): (seed * 7919 + r * 1000 + k + 1) / 512 for k in range(n)}
                for r, n in counts.items()
            },
        },
    }


def _sources() -> list[tuple[bytes, Any]]:
    """Documents of many shapes, and the context each is loaded with."""
    tp4 = {"tp_size": 4, "tp_rank": 3, "num_hidden_layers": 32, "model_type": "llama"}
    unordered = _raw({3: 5, 1: 5, 0: 5, 2: 5}, seed=2)
    unordered["kv_cache"]["scaling_factor"]["1"] = {"4": 0.5, "0": 1.5, "3": 2, "2": 3, "1": 4.0}
    integers = _raw(2, 16, seed=3)
    integers["kv_cache"]["scaling_factor"]["0"] = {str(k): k + 1 for k in range(16)}
    extras = {**_raw(1, 8, seed=4, model_type=None), "calibration": {"samples": 512}}
    extras["kv_cache"]["note"] = [1, 2, 3]
    unsound = _raw(2, 4, seed=5)
    unsound["kv_cache"]["scaling_factor"]["1"]["2"] = -0.5
    return [
        (orjson.dumps(_raw(4, 32, seed=1)), tp4),
        (orjson.dumps(_raw(4, 32, seed=1)), ValidationContext(4, 0, 32)),
        (orjson.dumps(_raw(16, 2500, seed=6)), {"tp_size": 16, "tp_rank": 15, "num_hidden_layers": 2500}),
        (orjson.dumps(_raw({0: 3, 5: 3, 9: 1}, seed=7)), None),
        (orjson.dumps(unordered), {"tp_size": 4, "tp_rank": 1, "num_hidden_layers": 5}),
        (orjson.dumps(integers), ValidationContext(2, 1, 16, "llama")),
        (orjson.dumps(extras), {}),
        (orjson.dumps(_raw(1, 1, seed=8)), ValidationContext(1, 0, 1)),
        # Ones that fail, each with its own problems.
        (orjson.dumps(unsound), None),
        (orjson.dumps(_raw(4, 32, seed=1)), {"tp_size": 8, "tp_rank": 3, "num_hidden_layers": 30}),
        (orjson.dumps(_raw(2, 4, seed=9, model_type="qwen2")), ValidationContext(2, 0, 4, "llama")),
        (
            b'{"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": {"0": ',
            None,
        ),
        (b'{"model_type": 3, "kv_cache": {"dtype": 1, "scaling_factor": {"01": {"0": "x"}}}}', None),
    ]


def _contents(schema: QuantParamSchema) -> tuple[object, ...]:
    """Everything a reader can see, read through every access path of the maps."""
    ranks = schema.kv_cache.scaling_factor
    assert isinstance(ranks, RankScales)
    by_index = tuple(
        (rank, ranks[rank]._is_dense, tuple((layer, ranks[rank][layer]) for layer in ranks[rank]))
        for rank in ranks
    )
    by_items = tuple((rank, tuple(layers.items())) for rank, layers in ranks.items())
    return (schema.model_type, schema.kv_cache.dtype, ranks._is_dense, by_index, by_items)


def _outcome(load: Callable[[], QuantParamSchema]) -> tuple[object, ...]:
    """What a load gave: the document's contents and bytes, or the error's kind and problems."""
    try:
        schema = load()
    except QuantParamError as error:
        return ("error", type(error).__name__, tuple(str(p) for p in error.problems), error.source)
    return ("ok", _contents(schema), quantparams.dumps(schema))


_Result = TypeVar("_Result")


def _in_threads(work: Callable[[int], _Result]) -> list[_Result]:
    """`work(thread index)` in THREADS threads that start together."""
    start = threading.Barrier(THREADS)

    def run(index: int) -> _Result:
        start.wait()
        return work(index)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


@pytest.mark.usefixtures("loading_path")
@pytest.mark.usefixtures("busy_switching")
def test_loading_from_many_threads_gives_what_one_thread_gets(tmp_path: Path) -> None:
    sources = _sources()
    paths = []
    for index, (data, _) in enumerate(sources):
        paths.append(tmp_path / f"doc-{index}.json")
        paths[-1].write_bytes(data)

    def load_file(index: int) -> Callable[[], QuantParamSchema]:
        return lambda: quantparams.load(paths[index], sources[index][1])

    def load_bytes(index: int) -> Callable[[], QuantParamSchema]:
        return lambda: quantparams.loads(sources[index][0], sources[index][1])

    expected_file = [_outcome(load_file(index)) for index in range(len(sources))]
    expected_bytes = [_outcome(load_bytes(index)) for index in range(len(sources))]
    assert [outcome[0] for outcome in expected_file] == ["ok"] * 8 + ["error"] * 5
    assert [outcome[:3] for outcome in expected_file] == [outcome[:3] for outcome in expected_bytes]

    def work(thread: int) -> list[tuple[int, str, tuple[object, ...]]]:
        # Every thread loads every document several times, in its own order,
        # from the file and from bytes; half the threads load one document only.
        if thread % 2:
            order = [thread % len(sources)] * 3 * len(sources)
        else:
            order = list(range(len(sources))) * 3
            random.Random(thread).shuffle(order)  # noqa: S311 - a fixed, varied order
        return [
            (index, "file", _outcome(load_file(index)))
            if step % 2
            else (index, "bytes", _outcome(load_bytes(index)))
            for step, index in enumerate(order)
        ]

    results = [result for per_thread in _in_threads(work) for result in per_thread]
    assert len(results) == THREADS * 3 * len(sources)
    for index, kind, outcome in results:
        assert outcome == (expected_file if kind == "file" else expected_bytes)[index]


def _validation_outcome(schema: Any, context: Any) -> tuple[object, ...]:
    try:
        returned = schema.validate(context)
    except QuantParamError as error:
        return ("error", type(error).__name__, tuple(str(p) for p in error.problems))
    assert returned is schema
    return ("ok",)


_CONTEXTS: list[Any] = [
    None,
    {},
    *(ValidationContext(4, rank, 64, "llama") for rank in range(4)),
    {"tp_size": 4, "tp_rank": 2, "num_hidden_layers": 64},
    {"tp_size": 4, "tp_rank": 1, "num_hidden_layers": 64, "model_type": None},
    ValidationContext(4, 0, 63),
    ValidationContext(2, 1, 64),
    ValidationContext(8, 7, 64),
    ValidationContext(4, 4, 64),
    ValidationContext(4, 0, 64, "mistral"),
    {"tp_size": 4, "tp_rank": 0},
    {"tp_size": True, "tp_rank": 0, "num_hidden_layers": 64},
    [4, 0, 64],
]


def _validation_subjects() -> list[tuple[str, bytes]]:
    unsound = _raw(4, 64, seed=2)
    unsound["kv_cache"]["scaling_factor"]["2"]["17"] = 0
    ragged = _raw({0: 64, 1: 64, 2: 60, 3: 64}, seed=3)
    sparse = _raw({0: 64, 3: 64, 1: 64}, seed=4)
    return [
        ("sound", orjson.dumps(_raw(4, 64, seed=1))),
        ("unsound", orjson.dumps(unsound)),
        ("ragged", orjson.dumps(ragged)),
        ("sparse", orjson.dumps(sparse)),
    ]


@pytest.mark.usefixtures("loading_path")
@pytest.mark.usefixtures("busy_switching")
@pytest.mark.parametrize(("name", "data"), _validation_subjects(), ids=[n for n, _ in _validation_subjects()])
@pytest.mark.parametrize("level", ["document", "kv_cache"])
def test_validating_one_object_from_many_threads_gives_the_sequential_answers(
    name: str, data: bytes, level: str
) -> None:
    def fresh() -> Any:
        # Freshly loaded, nothing about the scales is cached yet.
        schema = quantparams.loads(data, validate=False)
        return schema if level == "document" else schema.kv_cache

    sequential = fresh()
    expected = [_validation_outcome(sequential, context) for context in _CONTEXTS]
    assert ("ok",) in expected or name != "sound"
    assert len(set(expected)) > 2

    for _ in range(5):
        shared = fresh()

        def work(thread: int, shared: Any = shared) -> list[tuple[int, tuple[object, ...]]]:
            # Each thread goes through every context, starting at its own place.
            order = [(thread + i) % len(_CONTEXTS) for i in range(len(_CONTEXTS))] * 2
            return [(i, _validation_outcome(shared, _CONTEXTS[i])) for i in order]

        for per_thread in _in_threads(work):
            assert sorted(i for i, _ in per_thread) == sorted(list(range(len(_CONTEXTS))) * 2)
            for i, outcome in per_thread:
                assert outcome == expected[i]
        # And afterwards, the object answers as the untouched one did.
        assert [_validation_outcome(shared, context) for context in _CONTEXTS] == expected


# A process whose tables of key strings are still empty, as in a server that
# loads its files from several threads at start-up. One thread loads a small
# file while another loads a large one; the small one is held up at a point
# where any thread switch may take it (after building its larger table, before
# publishing it) until the large load has finished or has waited a second
# (it may be waiting for the small one). Before the table's growth was made
# one thread at a time, the small table was published last, and the large
# map then raised IndexError for layers past the small table's end.
_COLD_START = """\
import json, sys, threading
import orjson
import quantparams
from quantparams import _maps

small_layers, large_layers = 2000, 10000

def document(layers):
    scales = {str(k): (k + 1) / 1024 for k in range(layers)}
    return orjson.dumps({"model_type": None, "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": scales}}})

small_doc, large_doc = document(small_layers), document(large_layers)
paused, large_done = threading.Event(), threading.Event()

class PausingOrjson:
    def __getattr__(self, name):
        return getattr(orjson, name)

    @staticmethod
    def loads(data):
        value = orjson.loads(data)
        if threading.current_thread().name == "small" and len(value) > 1024:
            paused.set()
            large_done.wait(timeout=5)
        return value

_maps.orjson = PausingOrjson()
loaded = {}

def load(name, data):
    loaded[name] = quantparams.loads(data)

small = threading.Thread(target=load, args=("small", small_doc), name="small")
small.start()
print("paused" if paused.wait(timeout=5) else "not paused", file=sys.stderr)
large = threading.Thread(target=load, args=("large", large_doc), name="large")
large.start()
large.join(timeout=1)
large_done.set()
small.join()
large.join()

def read(schema, layers):
    scales = schema.kv_cache.scaling_factor[0]
    try:
        by_index = [scales[k] for k in range(layers)]
    except Exception as error:
        by_index = repr(error)
    return {"len": len(scales), "by_index": by_index == [(k + 1) / 1024 for k in range(layers)] or by_index}

print(json.dumps({
    "threaded": [read(loaded["small"], small_layers), read(loaded["large"], large_layers)],
    "afterwards": [read(quantparams.loads(small_doc), small_layers), read(quantparams.loads(large_doc), large_layers)],
}))
"""


def test_first_loads_in_a_fresh_process_from_two_threads(tmp_path: Path) -> None:
    script = tmp_path / "cold_start.py"
    script.write_text(_COLD_START)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    expected_reads = [{"len": 2000, "by_index": True}, {"len": 10000, "by_index": True}]
    assert json.loads(result.stdout) == {"threaded": expected_reads, "afterwards": expected_reads}


# --- immutability --------------------------------------------------------------------------------------


def _objects() -> list[tuple[str, Any]]:
    """Every kind of object, dense and sparse, built by loading and by the constructors."""
    loaded = quantparams.loads(orjson.dumps(_raw(2, 3)))
    built = QuantParamSchema(None, KVCacheQuantSchema(FP8, {4: {2: 0.5, 0: 1.5}, 1: {0: 2.0}}))
    return [
        ("document", loaded),
        ("kv_cache", loaded.kv_cache),
        ("ranks", loaded.kv_cache.scaling_factor),
        ("layers", loaded.kv_cache.scaling_factor[1]),
        ("sparse-document", built),
        ("sparse-kv_cache", built.kv_cache),
        ("sparse-ranks", built.kv_cache.scaling_factor),
        ("sparse-layers", built.kv_cache.scaling_factor[4]),
        ("layers-alone", LayerScales({0: 0.5, 1: 0.25})),
        ("ranks-alone", RankScales({0: {0: 0.5}, 1: {0: 0.25}})),
    ]


# The tests below take a name and load the object themselves, so that each
# loading path makes the objects it is run on.
_OBJECT_NAMES = [name for name, _ in _objects()]


def _plain(value: Any) -> Any:
    """A deep copy in plain values, to compare with afterwards."""
    if isinstance(value, Mapping):
        return [(key, _plain(item)) for key, item in value.items()]
    if attrs.has(type(value)):
        return [(field.name, _plain(getattr(value, field.name))) for field in attrs.fields(type(value))]
    return value


def _attribute_names(obj: Any) -> list[str]:
    names = {"__class__", "new_attribute"}
    if attrs.has(type(obj)):
        names.update(field.name for field in attrs.fields(type(obj)))
    for cls in type(obj).__mro__:
        slots = vars(cls).get("__slots__", ())
        names.update([slots] if isinstance(slots, str) else slots)
    return sorted(names - {"__weakref__"})


_MUTATORS: list[tuple[str, tuple[Any, ...]]] = [
    ("__setitem__", (0, 9.0)),
    ("__delitem__", (0,)),
    ("update", ({0: 9.0},)),
    ("pop", (0,)),
    ("popitem", ()),
    ("clear", ()),
    ("setdefault", (7, 9.0)),
    ("__ior__", ({0: 9.0},)),
    ("append", (9.0,)),
    ("extend", ([9.0],)),
    ("insert", (0, 9.0)),
    ("remove", (0,)),
    ("add", (9.0,)),
    ("discard", (0,)),
    ("sort", ()),
    ("reverse", ()),
]


@pytest.mark.usefixtures("loading_path")
@pytest.mark.parametrize("name", _OBJECT_NAMES)
def test_nothing_changes_an_object(name: str) -> None:
    obj = dict(_objects())[name]
    before, hashed = _plain(obj), hash(obj)
    twin = copy.deepcopy(obj)
    names = _attribute_names(obj)
    assert len(names) > 2
    for attribute in names:
        value = getattr(obj, attribute, None)
        with pytest.raises(AttributeError):
            setattr(obj, attribute, value)
        with pytest.raises(AttributeError):
            setattr(obj, attribute, "changed")
        with pytest.raises((AttributeError, TypeError)):
            delattr(obj, attribute)
    # No instance dict to slip an attribute into.
    with pytest.raises(TypeError):
        vars(obj)
    for method, args in _MUTATORS:
        with pytest.raises((AttributeError, TypeError)):
            getattr(obj, method)(*args)
    with pytest.raises(TypeError):
        obj[0] = 9.0
    with pytest.raises(TypeError):
        del obj[0]
    with pytest.raises(TypeError):
        obj |= {0: 9.0}
    if isinstance(obj, Mapping):
        # Nor can anything be changed through the keys, values and items views.
        for view in (obj.keys(), obj.values(), obj.items()):
            for method, args in _MUTATORS:
                with pytest.raises((AttributeError, TypeError)):
                    getattr(view, method)(*args)
    assert _plain(obj) == before
    assert hash(obj) == hashed
    assert obj == twin


@pytest.mark.usefixtures("loading_path")
def test_objects_are_immutable_all_the_way_down() -> None:
    document = quantparams.loads(orjson.dumps(_raw(2, 3)))
    # Every level's every value is itself one of the immutable kinds.
    seen: list[type] = []

    def walk(value: Any) -> None:
        seen.append(type(value))
        if isinstance(value, Mapping):
            for key, item in value.items():
                assert type(key) is int
                walk(item)
        elif attrs.has(type(value)):
            # Typed as object: mypy takes the class's __setattr__ for a bound method.
            class_setattr: object = type(value).__setattr__
            assert class_setattr is not object.__setattr__
            for field in attrs.fields(type(value)):
                walk(getattr(value, field.name))
        else:
            assert type(value) in (str, float, type(None))

    walk(document)
    assert set(seen) == {QuantParamSchema, KVCacheQuantSchema, RankScales, LayerScales, str, float}


# --- the dicts a caller passes in or gets back ---------------------------------------------------------


def _mutate_layers(layers: dict[Any, Any]) -> None:
    first = next(iter(layers))
    layers[first] = -1.0
    del layers[next(reversed(layers))]
    layers[type(first)(99) if isinstance(first, int) else "99"] = float("nan")


def _mutate_everything(source: dict[Any, Any]) -> None:
    """Change the values, keys and shape of a {rank: {layer: scale}} source at both levels."""
    for layers in list(source.values()):
        _mutate_layers(layers)
    first = next(iter(source))
    source[type(first)(42) if isinstance(first, int) else "42"] = dict(source[first])
    del source[first]


def _python_source() -> dict[Any, Any]:
    return {0: {0: 0.5, 1: 0.25, 2: 2.0}, 1: {0: 0.75, 1: 1.0, 2: 3.0}}


def _json_source() -> dict[Any, Any]:
    return {str(r): {str(k): v for k, v in layers.items()} for r, layers in _python_source().items()}


def _expected_kv() -> KVCacheQuantSchema:
    return KVCacheQuantSchema(FP8, {0: {0: 0.5, 1: 0.25, 2: 2.0}, 1: {0: 0.75, 1: 1.0, 2: 3.0}})


def _kv_from_builder(builder: str, source: dict[Any, Any]) -> KVCacheQuantSchema:
    if builder == "QuantParamSchema":
        return QuantParamSchema("llama", KVCacheQuantSchema(FP8, source)).kv_cache
    if builder == "KVCacheQuantSchema":
        return KVCacheQuantSchema(FP8, source)
    if builder == "RankScales":
        return KVCacheQuantSchema(FP8, RankScales(source))
    if builder == "LayerScales":
        return KVCacheQuantSchema(FP8, {rank: LayerScales(layers) for rank, layers in source.items()})
    if builder == "converter-document":
        raw = {"model_type": "llama", "kv_cache": {"dtype": FP8, "scaling_factor": source}}
        return converter.structure(raw, QuantParamSchema).kv_cache
    if builder == "converter-kv_cache":
        return converter.structure({"dtype": FP8, "scaling_factor": source}, KVCacheQuantSchema)
    if builder == "converter-ranks":
        return KVCacheQuantSchema(FP8, converter.structure(source, RankScales))
    if builder == "RankScales.from_json":
        ranks, problems = RankScales.from_json(source)
        assert problems == []
        assert ranks is not None
        return KVCacheQuantSchema(FP8, ranks)
    assert builder == "LayerScales.from_json"
    layer_maps: dict[int, LayerScales] = {}
    for rank, layers_json in source.items():
        layers, problems = LayerScales.from_json(layers_json)
        assert problems == []
        assert layers is not None
        layer_maps[int(rank)] = layers
    return KVCacheQuantSchema(FP8, layer_maps)


@pytest.mark.parametrize(
    ("builder", "source"),
    [
        pytest.param("QuantParamSchema", _python_source, id="QuantParamSchema"),
        pytest.param("KVCacheQuantSchema", _python_source, id="KVCacheQuantSchema"),
        pytest.param("RankScales", _python_source, id="RankScales"),
        pytest.param("LayerScales", _python_source, id="LayerScales"),
        pytest.param("converter-document", _json_source, id="converter-document"),
        pytest.param("converter-kv_cache", _json_source, id="converter-kv_cache"),
        pytest.param("converter-ranks", _json_source, id="converter-ranks"),
        pytest.param("RankScales.from_json", _json_source, id="RankScales.from_json"),
        pytest.param("LayerScales.from_json", _json_source, id="LayerScales.from_json"),
    ],
)
def test_changing_the_source_afterwards_changes_nothing(
    builder: str, source: Callable[[], dict[Any, Any]]
) -> None:
    given = source()
    kv = _kv_from_builder(builder, given)
    assert kv == _expected_kv()
    kv.validate(ValidationContext(2, 1, 3))
    _mutate_everything(given)
    assert kv == _expected_kv()
    assert _plain(kv.scaling_factor) == _plain(_expected_kv().scaling_factor)
    assert quantparams.dumps(QuantParamSchema("llama", kv)) == quantparams.dumps(
        QuantParamSchema("llama", _expected_kv())
    )
    kv.validate(ValidationContext(2, 1, 3))


@pytest.mark.usefixtures("loading_path")
def test_changing_what_unstructure_returns_changes_nothing() -> None:
    schema = quantparams.loads(orjson.dumps(_raw(2, 3)))
    before = quantparams.dumps(schema)
    for value, what in [
        (schema, QuantParamSchema),
        (schema.kv_cache, KVCacheQuantSchema),
        (schema.kv_cache.scaling_factor, RankScales),
        (schema.kv_cache.scaling_factor[0], LayerScales),
    ]:
        plain = converter.unstructure(value, what)
        if what is QuantParamSchema:
            plain["model_type"] = "changed"
            plain = plain["kv_cache"]
        if what in (QuantParamSchema, KVCacheQuantSchema):
            plain["dtype"] = "int8"
            plain = plain["scaling_factor"]
        if what is LayerScales:
            _mutate_layers(plain)
        else:
            _mutate_everything(plain)
    assert quantparams.dumps(schema) == before
    schema.validate(ValidationContext(2, 0, 3, "llama"))


def _mutate_deeply(value: Any) -> bool:
    """Change every mutable container in `value`, at every depth; True if there was one."""
    if isinstance(value, dict):
        for item in list(value.values()):
            _mutate_deeply(item)
        value["changed"] = -1.0
        value.pop(next(iter(value)))
        return True
    if isinstance(value, list):
        for item in value:
            _mutate_deeply(item)
        value.append(-1.0)
        value.pop(0)
        return True
    if isinstance(value, set):
        value.add(-1.0)
        return True
    return False


@pytest.mark.usefixtures("loading_path")
@pytest.mark.parametrize("name", _OBJECT_NAMES)
def test_changing_what_public_methods_return_changes_nothing(name: str) -> None:
    obj = dict(_objects())[name]
    before, dumped = _plain(obj), quantparams.dumps(QuantParamSchema("llama", _as_kv_cache(obj)))
    called = []
    for attribute in dir(obj):
        if attribute.startswith("_"):
            continue
        method = getattr(obj, attribute)
        if not callable(method):
            continue
        try:
            returned = method()
        except TypeError:  # needs arguments
            continue
        called.append(attribute)
        if isinstance(returned, Iterator):
            returned = list(returned)
        _mutate_deeply(returned)
    assert called  # validate, items, values, is_sound, ...
    for what in (QuantParamSchema, KVCacheQuantSchema, RankScales, LayerScales):
        if isinstance(obj, what):
            assert _mutate_deeply(converter.unstructure(obj, what))
    assert _plain(obj) == before
    assert quantparams.dumps(QuantParamSchema("llama", _as_kv_cache(obj))) == dumped


def _as_kv_cache(obj: Any) -> KVCacheQuantSchema:
    if isinstance(obj, QuantParamSchema):
        return obj.kv_cache
    if isinstance(obj, KVCacheQuantSchema):
        return obj
    if isinstance(obj, RankScales):
        return KVCacheQuantSchema(FP8, obj)
    return KVCacheQuantSchema(FP8, {0: obj})
