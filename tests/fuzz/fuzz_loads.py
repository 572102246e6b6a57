"""Fuzz `quantparams.loads` and `validate`: every input gives a document or a `QuantParamError`.

    python tests/fuzz/fuzz_loads.py --count 100000 [--seed S] [--out DIR]

Inputs are the seed documents (tests/data/valid, tests/data/invalid, examples)
mutated by a `random.Random(seed)` engine, at the level of the parsed document
and of the bytes, each loaded with a random (often hostile) engine context.
See README.md beside this file for what is mutated and what counts as a failure.
The same engine drives the CI-sized run in tests/test_fuzz.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pickle
import random
import re
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import Any

import orjson

import quantparams
from quantparams import QuantParamError, QuantParamSchema, ValidationContext
from quantparams._fast import load_fast
from quantparams._precise import load_precise

ROOT = Path(__file__).resolve().parents[2]
SEED_FOLDERS = (ROOT / "tests" / "data" / "valid", ROOT / "tests" / "data" / "invalid", ROOT / "examples")

# A single input taking longer than this is a hang.
TIME_BUDGET = 2.0
# Past this, even the alarm could not stop an input (it is stuck in C code):
# the run writes what it has and exits.
HARD_TIME_LIMIT = 60.0
# No problem message may be longer: bad values are quoted as short prefixes.
MAX_MESSAGE = 1000

ERROR_CLASSES = ("ParseError", "StructureError", "ValidationError")
OUTCOMES = ("ok", *ERROR_CLASSES)

# Input classes that can be left out of a run (`skip`), by name.
HUGE_CONTEXT_INTS = "huge-context-ints"  # context sizes of 10**9 and more, ints of 5000 digits
HUGE_KEYS = "huge-keys"  # map keys of more than 4300 digits
MESSAGE_LENGTH = "message-length"  # the check that messages stay short
SKIPPABLE = frozenset({HUGE_CONTEXT_INTS, HUGE_KEYS, MESSAGE_LENGTH})

FP8 = "float8_e4m3fn"


# --- Writing mutated documents --------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """Text written into the document as is: a number JSON cannot hold, a token, a deep nest."""

    text: str


@dataclass(frozen=True)
class Pairs:
    """An object written with these members in this order, repeated keys included."""

    items: tuple[tuple[str, Any], ...]


def write_json(node: Any, ascii_only: bool = True) -> str:
    parts: list[str] = []
    _write(node, parts, ascii_only)
    return "".join(parts)


def _write(node: Any, out: list[str], ascii_only: bool) -> None:
    if isinstance(node, Raw):
        out.append(node.text)
    elif node is None or isinstance(node, bool):
        out.append(json.dumps(node))
    elif isinstance(node, int):
        out.append(str(node))
    elif isinstance(node, float):
        if math.isnan(node):
            out.append("NaN")
        elif math.isinf(node):
            out.append("Infinity" if node > 0 else "-Infinity")
        else:
            out.append(repr(node))
    elif isinstance(node, str):
        out.append(json.dumps(node, ensure_ascii=ascii_only))
    elif isinstance(node, (dict, Pairs)):
        items = node.items if isinstance(node, Pairs) else tuple(node.items())
        out.append("{")
        for index, (key, value) in enumerate(items):
            if index:
                out.append(",")
            _write(key, out, ascii_only)
            out.append(":")
            _write(value, out, ascii_only)
        out.append("}")
    elif isinstance(node, list):
        out.append("[")
        for index, value in enumerate(node):
            if index:
                out.append(",")
            _write(value, out, ascii_only)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(node).__name__}")


def encode(text: str) -> bytes:
    # A lone surrogate becomes the 3-byte form Python's "surrogatepass" writes: not UTF-8.
    return text.encode("utf-8", "surrogatepass")


# --- Hostile values -----------------------------------------------------------------------

HOSTILE_NUMBERS = (
    "1e400",
    "-1e400",
    "1e-400",
    "1" + "0" * 5000,
    "-" + "9" * 400,
    "18446744073709551616",
    "-9223372036854775809",
    "9007199254740993",
    "-0",
    "-0.0",
    "0e0",
    "5e-324",
    "4.9e-324",
    "2e-324",
    "2.2250738585072014e-308",
    "1.7976931348623157e308",
    "1.7976931348623159e308",
    "NaN",
    "-NaN",
    "Infinity",
    "-Infinity",
    "inf",
    "nan",
    "1.",
    ".5",
    "01",
    "+1",
    "1e",
    "1e+",
    "--1",
    "0x10",
    "1_000",
    "\u0661",
)

HOSTILE_KEYS = (
    "",
    "0",
    "1",
    "2",
    "00",
    "01",
    "-0",
    "-1",
    "+1",
    " 1",
    "1 ",
    "1.0",
    "1e3",
    "1_0",
    "0x1",
    "\u0663",
    "\uff11",
    "\u00b2",
    "\u0000",
    "\ud800",
    "\udfff",
    "nan",
    "true",
    "null",
    "9" * 20,
    "18446744073709551616",
    "9" * 4300,
    "x" * 100,
    "model_type",
    "kv_cache",
    "dtype",
    "scaling_factor",
)

# Keys that `int()` refuses outright for their length.
HUGE_KEY_STRINGS = ("1" + "0" * 4300, "9" * 5000)

TOKENS = (
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    '"',
    "\\",
    "null",
    "true",
    "false",
    "0",
    "-",
    "1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    '"\\ud800"',
    '"\\udc00"',
    '"\\ud800\\udc00"',
    '"\\u0000"',
    '"\\x41"',
    '"0":',
    '"0":0.5',
    '"0":{"0":0.5}',
    "//",
    "/*",
    "\t",
    "\u00a0",
    "\u2028",
)

BAD_UTF8 = (
    b"\xff",
    b"\xfe",
    b"\xc0\x80",
    b"\xc3",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\x80",
)

PREFIXES = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b" \n\t", b"\x00")

NESTING_DEPTHS = (2, 254, 255, 256, 1023, 1024, 1025, 10_000)
LONG_LENGTHS = (100, 1000, 10_000, 100_000, 1_000_000)
MAP_SIZES = (0, 1, 2, 1023, 1024, 1025, 5000)


def nest(depth: int, inner: str = "0.5", opener: str = "[") -> Raw:
    closer = "]" if opener == "[" else "}"
    if opener == "{":
        return Raw('{"0":' * depth + inner + closer * depth)
    return Raw(opener * depth + inner + closer * depth)


# --- The mutation engine ------------------------------------------------------------------


@dataclass
class Case:
    """One input: what to load, the context to load it with, and another to revalidate with."""

    data: Any
    context: Any
    other_context: Any
    # Also load with validate=False and validate afterwards: the same outcome is expected.
    compare_deferred: bool = False
    # Also check that the error survives pickling.
    check_pickle: bool = False
    mutations: tuple[str, ...] = ()
    # Its place in the run: `--seed S --only INDEX` draws it again.
    index: int = -1


@dataclass
class _Seed:
    data: bytes
    tree: Any  # the parsed document, or None when the bytes are not JSON
    shape: tuple[int, int] | None  # (TP ranks, layers of the first rank), when it has them


def _shape(tree: Any) -> tuple[int, int] | None:
    try:
        ranks = tree["kv_cache"]["scaling_factor"]
        first: Any = next(iter(ranks.values()), {})
        return len(ranks), len(first)
    except (TypeError, KeyError, AttributeError):
        return None


def _parse(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _loads_cleanly(data: bytes) -> bool:
    try:
        quantparams.loads(data)
    except QuantParamError:
        return False
    return True


def _generated_seeds() -> list[bytes]:
    rng = random.Random(0)  # noqa: S311 - fixed test data, not security
    docs: list[dict[str, Any]] = []
    for ranks, layers in ((1, 1), (2, 3), (8, 128)):
        scales = {
            str(rank): {str(layer): rng.uniform(1e-3, 0.1) for layer in range(layers)}
            for rank in range(ranks)
        }
        docs.append({"model_type": "llama", "kv_cache": {"dtype": FP8, "scaling_factor": scales}})
    docs.append({"model_type": None, "kv_cache": {"dtype": FP8, "scaling_factor": {}}})
    return [json.dumps(doc).encode() for doc in docs]


def load_corpus() -> list[bytes]:
    """The seed documents: every JSON file of the test data and the examples, and a few generated ones."""
    corpus = [path.read_bytes() for folder in SEED_FOLDERS for path in sorted(folder.glob("*.json"))]
    return corpus + _generated_seeds()


_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|true|false|null|[{}\[\],:]')
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NUMBER = re.compile(rb"(?<![\w.])-?[0-9][0-9.eE+-]*")
_MEMBER = re.compile(rb'"(?:[^"\\]|\\.)*"\s*:\s*(?:-?[0-9][0-9.eE+-]*|"(?:[^"\\]|\\.)*"|true|false|null)')


class Mutator:
    """Draws cases from a `random.Random`: seed documents, mutated, with contexts.

    `skip` names input classes (see SKIPPABLE) to leave out.
    """

    def __init__(self, rng: random.Random, corpus: list[bytes], skip: frozenset[str] = frozenset()) -> None:
        unknown = skip - SKIPPABLE
        if unknown:
            raise ValueError(f"unknown input classes to skip: {sorted(unknown)}")
        self.rng = rng
        self.skip = skip
        self.seeds = [_Seed(data, tree, _shape(tree)) for data in corpus for tree in [_parse(data)]]
        # Sound seeds are drawn more often: mutations of them reach the checks.
        self.weights = [3 if _loads_cleanly(seed.data) else 1 for seed in self.seeds]
        self.keys = HOSTILE_KEYS + (() if HUGE_KEYS in skip else HUGE_KEY_STRINGS)
        self._tree_mutations: list[Callable[[Any], Any]] = [
            self._replace_value,
            self._replace_value,
            self._number_token,
            self._delete_key,
            self._add_key,
            self._rename_key,
            self._duplicate_key,
            self._wrap,
            self._grow_map,
            self._shuffle,
            self._long_text,
            self._deep_value,
        ]
        # Changes that keep a sound document sound, or make it fail only a check.
        self._mild_mutations: list[Callable[[Any], Any]] = [
            self._set_scale,
            self._set_scale,
            self._extra_member,
            self._shuffle,
            self._delete_key,
            self._grow_map,
        ]
        self._byte_mutations: list[Callable[[bytes], bytes]] = [
            self._truncate,
            self._flip,
            self._flip,
            self._insert_token,
            self._delete_span,
            self._delete_token,
            self._replace_number,
            self._replace_string,
            self._duplicate_member,
            self._splice,
            self._deep_nesting,
            self._bad_utf8,
            self._prefix,
        ]

    # The case -----------------------------------------------------------------------------

    def case(self) -> Case:
        rng = self.rng
        seed = rng.choices(self.seeds, self.weights)[0]
        data, names = self.mutate(seed)
        context = self.context(seed.shape)
        other = self.context(seed.shape)
        return Case(self._as_input(data), context, other, rng.random() < 0.25, rng.random() < 0.05, names)

    def mutate(self, seed: _Seed) -> tuple[bytes, tuple[str, ...]]:
        rng = self.rng
        names: list[str] = []
        data = seed.data
        roll = rng.random()
        if roll < 0.08:
            return data, ()
        if seed.tree is not None and roll < 0.65:
            holder = [_copy(seed.tree)]
            mutations = self._mild_mutations if roll < 0.3 else self._tree_mutations
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                mutation = rng.choice(mutations)
                names.append(mutation.__name__.lstrip("_"))
                mutation(holder)
            data = encode(write_json(holder[0], ascii_only=rng.random() < 0.7))
            byte_rounds = 0 if roll < 0.3 else rng.choice((0, 0, 0, 1))
        else:
            byte_rounds = rng.choice((1, 1, 2, 3, 4))
        data, byte_names = self.mutate_bytes(data, byte_rounds)
        return data, (*names, *byte_names)

    def mutate_bytes(self, data: bytes, rounds: int) -> tuple[bytes, tuple[str, ...]]:
        """`rounds` byte-level mutations of `data`, and their names."""
        names = []
        for _ in range(rounds):
            mutation = self.rng.choice(self._byte_mutations)
            names.append(mutation.__name__.lstrip("_"))
            data = mutation(data)
        return data, tuple(names)

    def _as_input(self, data: bytes) -> Any:
        roll = self.rng.random()
        if roll < 0.08:
            # Invalid bytes become lone surrogates in the str.
            return data.decode("utf-8", "surrogateescape")
        if roll < 0.11:
            return bytearray(data)
        if roll < 0.13:
            return memoryview(data)
        if roll < 0.135:
            return self.rng.choice([None, 42, 1.5, [data], {"data": 1}, object()])
        return data

    # Values --------------------------------------------------------------------------------

    def scale(self) -> Any:
        return self.rng.choice([0.5, 1, 448.0, 5e-324, 1.7976931348623157e308, 0.0152, 10**20])

    def hostile_value(self) -> Any:
        rng = self.rng
        choices: list[Callable[[], Any]] = [
            lambda: rng.choice([None, True, False, 0, 1, -1, 2**53 + 1, 2**63, 2**64, -(2**63) - 1]),
            lambda: rng.choice([0.0, -0.0, 0.5, 1.0, 5e-324, 1e-45, 448.0, 1.7976931348623157e308]),
            lambda: rng.choice([math.nan, math.inf, -math.inf, -0.5]),
            lambda: rng.choice(
                ["", "0.5", "nan", "Infinity", FP8, "llama", "\ud800", "\u0000", "\U0001f600"]
            ),
            lambda: Raw(rng.choice(HOSTILE_NUMBERS)),
            lambda: rng.choice([[], [0.5], {}, {"0": 0.5}, {"0": {"0": 0.5}}, {"-1": 0.5}, [[[]]]]),
            lambda: {rng.choice(self.keys): self.scale() for _ in range(rng.randrange(4))},
            lambda: "x" * rng.choice(LONG_LENGTHS),
            lambda: nest(rng.choice(NESTING_DEPTHS), opener=rng.choice("[{")),
        ]
        return rng.choice(choices)()

    # Mutations of the parsed document ------------------------------------------------------

    def _slots(self, holder: list[Any]) -> list[tuple[Any, Any]]:
        """(container, key) of every value, the root's holder included, at most 5000 of them."""
        slots: list[tuple[Any, Any]] = [(holder, 0)]
        stack = [holder[0]]
        while stack and len(slots) < 5000:
            node = stack.pop()
            if isinstance(node, dict):
                members = list(node.items())
                slots += [(node, key) for key, _ in members]
                stack += [value for _, value in members]
            elif isinstance(node, list):
                slots += [(node, index) for index in range(len(node))]
                stack += node
        return slots

    def _dicts(self, holder: list[Any]) -> list[dict[str, Any]]:
        found = [container[key] for container, key in self._slots(holder)]
        return [node for node in found if isinstance(node, dict)]

    def _replace_value(self, holder: list[Any]) -> None:
        container, key = self.rng.choice(self._slots(holder))
        container[key] = self.hostile_value()

    def _numbers(self, holder: list[Any]) -> list[tuple[Any, Any]]:
        slots = self._slots(holder)
        return [(c, k) for c, k in slots if isinstance(c[k], (int, float)) and not isinstance(c[k], bool)]

    def _set_scale(self, holder: list[Any]) -> None:
        numbers = self._numbers(holder)
        if numbers:
            container, key = self.rng.choice(numbers)
            container[key] = self.rng.choice([self.scale(), 0.0, -1.0, 1e-300, 2**64])

    def _extra_member(self, holder: list[Any]) -> None:
        dicts = [d for d in self._dicts(holder) if "kv_cache" in d or "dtype" in d]
        if dicts:
            name = self.rng.choice(["extra", "note", "", "\u00e9", "scaling_factors", "Dtype"])
            self.rng.choice(dicts)[name] = self.hostile_value()

    def _number_token(self, holder: list[Any]) -> None:
        container, key = self.rng.choice(self._numbers(holder) or self._slots(holder))
        container[key] = Raw(self.rng.choice(HOSTILE_NUMBERS))

    def _delete_key(self, holder: list[Any]) -> None:
        dicts = [d for d in self._dicts(holder) if d]
        if dicts:
            target = self.rng.choice(dicts)
            del target[self.rng.choice(list(target))]

    def _add_key(self, holder: list[Any]) -> None:
        dicts = self._dicts(holder)
        if dicts:
            value = self.scale() if self.rng.random() < 0.5 else self.hostile_value()
            self.rng.choice(dicts)[self.rng.choice(self.keys)] = value

    def _rename_key(self, holder: list[Any]) -> None:
        dicts = [d for d in self._dicts(holder) if d]
        if dicts:
            target = self.rng.choice(dicts)
            old = self.rng.choice(list(target))
            members = [(self.rng.choice(self.keys) if k == old else k, v) for k, v in target.items()]
            target.clear()
            target.update(members)

    def _duplicate_key(self, holder: list[Any]) -> None:
        slots = [(c, k) for c, k in self._slots(holder) if isinstance(c[k], dict) and c[k]]
        if slots:
            container, key = self.rng.choice(slots)
            members = list(container[key].items())
            repeated = self.rng.choice(members)
            value = repeated[1] if self.rng.random() < 0.3 else self.hostile_value()
            members.insert(self.rng.randrange(len(members) + 1), (repeated[0], value))
            container[key] = Pairs(tuple(members))

    def _wrap(self, holder: list[Any]) -> None:
        container, key = self.rng.choice(self._slots(holder))
        container[key] = [container[key]] if self.rng.random() < 0.5 else {"0": container[key]}

    def _grow_map(self, holder: list[Any]) -> None:
        rng = self.rng
        size = rng.choice(MAP_SIZES)
        keys = [str(i) for i in range(size)]
        if rng.random() < 0.3:
            keys = [str(i * rng.choice((2, 1000))) for i in range(size)]
        elif rng.random() < 0.3:
            rng.shuffle(keys)
        layers = dict.fromkeys(keys, 0.01)
        container, key = rng.choice(self._slots(holder))
        container[key] = layers if rng.random() < 0.7 else {"0": layers, "1": layers}

    def _shuffle(self, holder: list[Any]) -> None:
        dicts = self._dicts(holder)
        if dicts:
            target = self.rng.choice(dicts)
            members = list(target.items())
            self.rng.shuffle(members)
            target.clear()
            target.update(members)

    def _long_text(self, holder: list[Any]) -> None:
        length = self.rng.choice(LONG_LENGTHS)
        text = self.rng.choice(["x", "0", "\u00e9", "\\"]) * length
        slots = self._slots(holder)
        strings = [(c, k) for c, k in slots if isinstance(c[k], str)]
        dicts = self._dicts(holder)
        if dicts and self.rng.random() < 0.3:
            self.rng.choice(dicts)[text] = self.scale()
        else:
            container, key = self.rng.choice(strings or slots)
            container[key] = text

    def _deep_value(self, holder: list[Any]) -> None:
        container, key = self.rng.choice(self._slots(holder))
        container[key] = nest(self.rng.choice(NESTING_DEPTHS), opener=self.rng.choice("[{"))

    # Mutations of the bytes ---------------------------------------------------------------

    def _position(self, data: bytes) -> int:
        return self.rng.randrange(len(data) + 1)

    def _truncate(self, data: bytes) -> bytes:
        return data[: self._position(data)]

    def _flip(self, data: bytes) -> bytes:
        if not data:
            return data
        buffer = bytearray(data)
        for _ in range(self.rng.choice((1, 1, 2, 4, 8))):
            index = self.rng.randrange(len(buffer))
            if self.rng.random() < 0.5:
                buffer[index] ^= 1 << self.rng.randrange(8)
            else:
                buffer[index] = self.rng.randrange(256)
        return bytes(buffer)

    def _insert_token(self, data: bytes) -> bytes:
        at = self._position(data)
        return data[:at] + encode(self.rng.choice(TOKENS)) + data[at:]

    def _delete_span(self, data: bytes) -> bytes:
        start = self._position(data)
        return data[:start] + data[start + self.rng.choice((1, 1, 2, 8, 64)) :]

    def _pick(self, pattern: re.Pattern[bytes], data: bytes) -> re.Match[bytes] | None:
        # Only the first 64 KiB: enough to pick from, cheap on a long input.
        matches = list(pattern.finditer(data, 0, 65536))
        return self.rng.choice(matches) if matches else None

    def _delete_token(self, data: bytes) -> bytes:
        match = self._pick(_TOKEN, data)
        return data[: match.start()] + data[match.end() :] if match else data

    def _replace_number(self, data: bytes) -> bytes:
        match = self._pick(_NUMBER, data)
        if not match:
            return data
        return data[: match.start()] + encode(self.rng.choice(HOSTILE_NUMBERS)) + data[match.end() :]

    def _replace_string(self, data: bytes) -> bytes:
        match = self._pick(_STRING, data)
        if not match:
            return data
        rng = self.rng
        choices: list[Callable[[], str]] = [
            lambda: '"\\ud800"',
            lambda: '"\\udc00x"',
            lambda: '"\\ud83d\\ude00"',
            lambda: '"' + rng.choice("x0\u00e9") * rng.choice(LONG_LENGTHS) + '"',
            lambda: json.dumps(rng.choice(self.keys)),
            lambda: '"' + "\\u0030" * rng.choice((1, 2, 5000)) + '"',
        ]
        replacement = encode(rng.choice(choices)())
        if rng.random() < 0.2:
            replacement = replacement[:-1] + rng.choice(BAD_UTF8) + b'"'
        return data[: match.start()] + replacement + data[match.end() :]

    def _duplicate_member(self, data: bytes) -> bytes:
        match = self._pick(_MEMBER, data)
        if not match:
            return data
        return data[: match.end()] + b"," + match.group() + data[match.end() :]

    def _splice(self, data: bytes) -> bytes:
        other = self.rng.choice(self.seeds).data
        start = self._position(other)
        piece = other[start : start + self.rng.randrange(1, 200)]
        at = self._position(data)
        return data[:at] + piece + data[at:]

    def _deep_nesting(self, data: bytes) -> bytes:
        at = self._position(data)
        depth = self.rng.choice(NESTING_DEPTHS)
        closed = self.rng.random() < 0.5
        text = nest(depth, opener=self.rng.choice("[{")).text if closed else "[" * depth
        return data[:at] + text.encode() + data[at:]

    def _bad_utf8(self, data: bytes) -> bytes:
        match = self._pick(_STRING, data)
        at = match.start() + 1 if match and self.rng.random() < 0.7 else self._position(data)
        return data[:at] + self.rng.choice(BAD_UTF8) + data[at:]

    def _prefix(self, data: bytes) -> bytes:
        return self.rng.choice(PREFIXES) + data

    # Contexts ------------------------------------------------------------------------------

    def context(self, shape: tuple[int, int] | None) -> Any:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            return None
        if roll < 0.35:
            return {}
        tp_size, layers = (
            shape if shape and rng.random() < 0.7 else (rng.choice((1, 2, 4, 8)), rng.choice((1, 32)))
        )
        tp_size = max(tp_size, 1)
        fields: dict[str, Any] = {
            "tp_size": tp_size,
            "tp_rank": rng.randrange(tp_size),
            "num_hidden_layers": max(layers, 1),
            "model_type": rng.choice([None, "llama", "mistral"]),
        }
        if roll < 0.55:
            return ValidationContext(**fields)
        if roll < 0.7:
            if rng.random() < 0.3:
                del fields["model_type"]
            return fields
        if roll < 0.95:
            for name in rng.sample(list(fields), rng.randrange(1, len(fields) + 1)):
                fields[name] = self.hostile_context_value(name)
            if rng.random() < 0.2:
                del fields[rng.choice(list(fields))]
            if rng.random() < 0.1:
                fields["extra"] = self.hostile_value()
            kind = rng.random()
            if kind < 0.2:
                # Hostile values on purpose: the context must refuse them.
                return ValidationContext(
                    **{k: fields.get(k) for k in ("tp_size", "tp_rank", "num_hidden_layers")}  # type: ignore[arg-type]
                )
            if kind < 0.3:
                return MappingProxyType(fields)
            if kind < 0.4:
                return _ReadOnlyMapping(fields)
            return fields
        return rng.choice([[2, 0, 2], (2, 0, 2), 42, "tp_size=2", b"{}", object(), {1, 2}, 1.5, True])

    def hostile_context_value(self, name: str) -> Any:
        rng = self.rng
        values: list[Any] = [
            -1,
            0,
            1,
            2,
            3,
            7,
            True,
            False,
            1.0,
            1.5,
            math.nan,
            math.inf,
            "2",
            "",
            None,
            [],
            {},
            [2],
            b"2",
            object(),
            -(2**63),
            1024,
            10_000,
        ]
        if HUGE_CONTEXT_INTS not in self.skip:
            values += [10**9, 2**63, 10**5000, -(10**5000)]
        if name == "model_type":
            values += ["llama", "x" * rng.choice(LONG_LENGTHS), "\ud800", 5]
        return rng.choice(values)


class _ReadOnlyMapping(Mapping[str, Any]):
    """A context that is a Mapping but not a dict."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


def _copy(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {key: _copy(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_copy(value) for value in tree]
    return tree


# --- Checking one case --------------------------------------------------------------------


class Broken(Exception):
    """The library broke a promise without raising anything unexpected.

    `label` names the promise, the same for every input that breaks it alike.
    """

    def __init__(self, label: str, detail: str) -> None:
        super().__init__(f"{label}: {detail}")
        self.label = label


class InputTimeout(BaseException):
    """One input ran past the time budget.

    A BaseException, so that no `except Exception` on the way swallows it.
    """


@dataclass
class Result:
    outcome: str  # "ok" or the error class of loads
    revalidation: str | None  # validate(other_context) of a loaded document: "ok" or the error class
    duplicate_keys: bool = False  # loads raised DuplicateKeyError (a ParseError)


def check_error(error: QuantParamError, skip: frozenset[str] = frozenset()) -> str:
    """The error's class name, after checking what every error promises."""
    kinds = [name for name in ERROR_CLASSES if isinstance(error, getattr(quantparams, name))]
    if len(kinds) != 1:
        raise Broken("error class", f"{type(error).__name__} is not exactly one of {ERROR_CLASSES}")
    if not error.problems or not all(isinstance(p, quantparams.Problem) for p in error.problems):
        raise Broken("no problems", f"{kinds[0]} with problems {error.problems!r}")
    text = str(error)
    if MESSAGE_LENGTH not in skip:
        for item in error.problems:
            if len(item.message) > MAX_MESSAGE or len(item.path) > MAX_MESSAGE:
                raise Broken(
                    f"{kinds[0]} with a long message at {_general_path(item.path)}",
                    f"{len(item.path)} + {len(item.message)} characters: {str(item)[:200]!r}",
                )
    if not text:
        raise Broken("empty text", f"{kinds[0]} renders as empty text")
    return kinds[0]


def _outcome(call: Callable[[], Any], skip: frozenset[str]) -> tuple[str, Any]:
    try:
        return "ok", call()
    except QuantParamError as error:
        return check_error(error, skip), error


class _KeyNamedTwice(Exception):
    pass


def _refuse_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise _KeyNamedTwice
    return dict(pairs)


def _names_a_key_twice(data: object) -> bool | None:
    """Whether the input, if it is strict JSON, names a key twice in an object.

    The oracle for `DuplicateKeyError`, by another method than the library's:
    json's pairs hook. None when json cannot tell: not JSON orjson takes, or
    nested past json's recursion limit.
    """
    if not isinstance(data, (bytes, bytearray, memoryview, str)):
        return None  # orjson refuses any other type as not JSON
    try:
        orjson.loads(data)
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        json.loads(text, object_pairs_hook=_refuse_twice)
    except _KeyNamedTwice:
        return True
    except (orjson.JSONDecodeError, RecursionError, UnicodeDecodeError, ValueError):
        return None
    return False


def check_case(case: Case, skip: frozenset[str] = frozenset()) -> Result:
    """Run one case; raise on any broken promise (an unexpected exception, or `Broken`)."""
    if not isinstance(case.data, (bytes, bytearray, memoryview, str)):
        # Not bytes-like or text: a programming error, TypeError, as in the json module.
        try:
            quantparams.loads(case.data, case.context)
        except TypeError:
            return Result("TypeError", None)
        raise Broken("no TypeError", f"loads({type(case.data).__name__}) did not raise TypeError")
    outcome, value = _outcome(lambda: quantparams.loads(case.data, case.context), skip)
    if case.compare_deferred:
        deferred, loaded = _outcome(lambda: quantparams.loads(case.data, validate=False), skip)
        if deferred == "ok":
            deferred, later = _outcome(lambda: loaded.validate(case.context), skip)
            if deferred == outcome != "ok" and later.problems != value.problems:
                raise Broken("deferred validate", f"other problems than loads: {later} vs {value}")
        if deferred != outcome:
            raise Broken("deferred validate", f"gives {deferred}, loads with the context {outcome}")
    _check_paths(case)
    duplicated = _names_a_key_twice(case.data)
    refused_duplicates = isinstance(value, quantparams.DuplicateKeyError)
    if duplicated is not None and refused_duplicates != (duplicated and outcome == "ParseError"):
        if duplicated:
            raise Broken("duplicate keys", f"a key named twice gives {outcome}: {value}")
        raise Broken("duplicate keys", f"DuplicateKeyError without a key named twice: {value}")
    if outcome != "ok":
        if case.check_pickle:
            again = pickle.loads(pickle.dumps(value))
            if type(again) is not type(value) or again.problems != value.problems:
                raise Broken("pickle", f"{value!r} does not survive pickling")
        return Result(outcome, None, refused_duplicates)
    schema = value
    if not isinstance(schema, QuantParamSchema):
        raise Broken("loads result", f"loads returned {type(schema).__name__}")
    # A document loads checked: it can be written and read back as it is.
    again = quantparams.loads(quantparams.dumps(schema))
    if again != schema:
        raise Broken("round trip", "dumps then loads gives another document")
    revalidation, returned = _outcome(lambda: schema.validate(case.other_context), skip)
    if revalidation == "ok" and returned is not schema:
        raise Broken("validate result", "validate() returned another object")
    return Result(outcome, revalidation)


def _check_paths(case: Case) -> None:
    """The fast path and the precise loader agree end to end, with and without validating:
    `loads` gives what `load_precise` gives (the same document, or the same error class
    with the same problems), and the fast path alone, whole or in pieces of any size,
    gives that document or declines."""
    data = case.data.tobytes() if type(case.data) is memoryview else case.data
    for context, validate in ((case.context, True), (None, False)):
        oracle = _loaded(load_precise, data, context, validate)
        mine = _loaded(quantparams.loads, data, context, validate)
        if mine != oracle:
            raise Broken("fast and precise", f"loads gives {mine!r:.300}, the precise loader {oracle!r:.300}")
        fast = [load_fast(data, context, validate)]
        if isinstance(data, (bytes, bytearray)):
            fast.append(load_fast(data, context, validate, pieces_from=0, min_piece=0))
        for schema in fast:
            if schema is not None and _comparable(schema) != oracle:
                raise Broken(
                    "fast and precise",
                    f"the fast path gives {_comparable(schema)!r:.300}, not {oracle!r:.300}",
                )


def _loaded(load: Callable[..., QuantParamSchema], data: object, context: object, validate: bool) -> object:
    """What a load gives, comparable across loaders: the document's shape, or the error's."""
    try:
        return _comparable(load(data, context, validate=validate))
    except QuantParamError as error:
        return type(error).__name__, [str(p) for p in error.problems]


def _comparable(schema: QuantParamSchema) -> object:
    """Every value of a document with its type, in order, and what the maps say of their keys."""
    ranks = schema.kv_cache.scaling_factor
    return (
        (type(schema.model_type), schema.model_type, type(schema.kv_cache.dtype), schema.kv_cache.dtype),
        ranks._is_dense,
        [
            (rank, layers._is_dense, [(k, repr(v), type(v)) for k, v in layers.items()])
            for rank, layers in ranks.items()
        ],
    )


def _check_with_alarm(case: Case, skip: frozenset[str], budget: float | None) -> Result:
    """`check_case`, interrupted by `InputTimeout` after `budget` seconds unless None.

    The caller holds `_alarm_handler()`, which turns the alarm into that exception.
    """
    if budget is None:
        return check_case(case, skip)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        return check_case(case, skip)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def check_with_budget(case: Case, skip: frozenset[str] = frozenset(), budget: float = TIME_BUDGET) -> Result:
    """`check_case`, with running past `budget` seconds reported as `Broken`."""
    begin = time.perf_counter()
    with _alarm_handler() as alarm:
        try:
            result = _check_with_alarm(case, skip, budget if alarm else None)
        except InputTimeout:
            raise Broken("hang", f"stopped after {budget} s") from None
    elapsed = time.perf_counter() - begin
    if elapsed > budget:
        raise Broken("hang", f"took {elapsed:.1f} s")
    return result


# --- Running many cases -------------------------------------------------------------------


@dataclass
class Failure:
    kind: str  # "exception", "broken", "hang"
    case: Case
    detail: str
    signature: str
    seconds: float


@dataclass
class Report:
    count: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    revalidations: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    failure_counts: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0
    duplicate_keys: int = 0


def _signature(kind: str, error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = next(
        (f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames) if "quantparams" in f.filename), "?"
    )
    return f"{kind}: {type(error).__name__} at {where}"


def _hang_signature(error: BaseException) -> str:
    # Where the alarm lands varies; the public call that ran long does not.
    frames = traceback.extract_tb(error.__traceback__)
    public = [f.name for f in frames if "quantparams" in f.filename and not f.name.startswith("_")]
    return f"hang: in {public[0] if public else '?'}"


def _general_path(path: str) -> str:
    # $.kv_cache.scaling_factor["0"]["7"] and ["1"]["2"] are the same place for a signature.
    return re.sub(r"\[[^]]*\]", "[...]", path)[:60]


@contextlib.contextmanager
def _alarm_handler() -> Iterator[bool]:
    """Install the handler that turns SIGALRM into InputTimeout; False where that cannot be done."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield False
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise InputTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _Watchdog:
    """Ends the process if one input is stuck where the alarm cannot reach (in C code)."""

    def __init__(self, limit: float, on_stuck: Callable[[Case], None]) -> None:
        self.limit = limit
        self.on_stuck = on_stuck
        self.current: tuple[Case, float] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            current = self.current
            if current is not None and time.monotonic() - current[1] > self.limit:
                self.on_stuck(current[0])
                os._exit(3)

    def stop(self) -> None:
        self._stop.set()


def run(
    count: int,
    seed: int,
    *,
    skip: frozenset[str] = frozenset(),
    time_budget: float = TIME_BUDGET,
    corpus: list[bytes] | None = None,
    keep_failures: int = 50,
    progress: Callable[[Report], None] | None = None,
    watchdog: _Watchdog | None = None,
    only: int | None = None,
) -> Report:
    """Draw `count` cases from `random.Random(seed)` and check each (or only case `only`)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test inputs, not security
    mutator = Mutator(rng, load_corpus() if corpus is None else corpus, skip)
    report = Report()
    started = time.perf_counter()
    with _alarm_handler() as alarm:
        for index in range(count):
            case = mutator.case()
            case.index = index
            if only is not None and index != only:
                continue
            failure: tuple[str, str, str] | None = None
            if watchdog is not None:
                watchdog.current = (case, time.monotonic())
            begin = time.perf_counter()
            try:
                result = _check_with_alarm(case, skip, time_budget if alarm else None)
            except InputTimeout as error:
                failure = ("hang", f"stopped after {time_budget} s", _hang_signature(error))
            except Broken as error:
                failure = ("broken", str(error), f"broken: {error.label}")
            except Exception as error:
                detail = "".join(traceback.format_exception(error))
                failure = ("exception", detail, _signature("exception", error))
            else:
                report.outcomes[result.outcome] += 1
                report.duplicate_keys += result.duplicate_keys
                if result.revalidation is not None:
                    report.revalidations[result.revalidation] += 1
            elapsed = time.perf_counter() - begin
            if watchdog is not None:
                watchdog.current = None
            if failure is None and elapsed > time_budget:
                failure = ("hang", f"took {elapsed:.1f} s", "hang: past the budget")
            report.slowest = max(report.slowest, elapsed)
            if failure is not None:
                kind, detail, signature = failure
                report.failure_counts[signature] += 1
                if report.failure_counts[signature] == 1 and len(report.failures) < keep_failures:
                    report.failures.append(Failure(kind, case, detail, signature, elapsed))
            report.count = index + 1
            if progress is not None and report.count % 10_000 == 0:
                report.seconds = time.perf_counter() - started
                progress(report)
    report.seconds = time.perf_counter() - started
    return report


# --- Reporting ----------------------------------------------------------------------------


def input_bytes(data: Any) -> bytes:
    if isinstance(data, str):
        return encode(data)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    return repr(data).encode()


def short_repr(value: Any, limit: int = 300) -> str:
    if isinstance(value, (bytes, bytearray, memoryview, str)):
        # Cut before repr: the input may be megabytes long.
        head = value[:limit]
        text = repr(bytes(head) if isinstance(head, memoryview) else head)
        size = len(value)
        return f"{type(value).__name__} of length {size}: {text}{'...' if size > limit else ''}"
    text = _spell(value, limit)
    return text if len(text) <= limit else text[:limit] + "..."


def _spell(value: Any, limit: int) -> str:
    """repr, except that huge ints and long strings are named rather than spelled."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        sign = "-" if value < 0 else ""
        return f"<{sign}int of about {round(value.bit_length() * math.log10(2))} digits>"
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... (str of length {len(value)})"
    if isinstance(value, ValidationContext):
        names = ("tp_size", "tp_rank", "num_hidden_layers", "model_type")
        return f"ValidationContext({', '.join(f'{n}={_spell(getattr(value, n), limit)}' for n in names)})"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_spell(k, limit)}: {_spell(v, limit)}" for k, v in value.items())
        return f"{type(value).__name__}({{{inner}}})" if not isinstance(value, dict) else f"{{{inner}}}"
    if isinstance(value, Raw):
        return f"Raw({_spell(value.text, limit)})"
    return repr(value)


def save_failure(failure: Failure, folder: Path, number: int, seed: int) -> Path:
    """Write the failing input (its bytes) and a description beside it; return the description's path."""
    folder.mkdir(parents=True, exist_ok=True)
    data_path = folder / f"failure-{number}.bin"
    data_path.write_bytes(input_bytes(failure.case.data))
    text_path = folder / f"failure-{number}.txt"
    case = failure.case
    text_path.write_text(
        f"{failure.signature}\n\n"
        f"case {case.index} of seed {seed}: python tests/fuzz/fuzz_loads.py --seed {seed} --only {case.index}\n"
        f"input type: {type(case.data).__name__} (bytes in {data_path.name})\n"
        f"input: {short_repr(case.data)}\n"
        f"context: {short_repr(case.context)}\n"
        f"other context: {short_repr(case.other_context)}\n"
        f"validate=False then validate: {case.compare_deferred}\n"
        f"mutations: {', '.join(case.mutations) or 'none'}\n"
        f"seconds: {failure.seconds:.3f}\n\n"
        f"{failure.detail}\n",
        encoding="utf-8",
        errors="backslashreplace",
    )
    return text_path


def format_report(report: Report, seed: int) -> str:
    rate = report.count / report.seconds if report.seconds else 0.0
    lines = [
        f"{report.count} inputs, seed {seed}, {report.seconds:.1f} s ({rate:.0f} inputs/s, "
        f"slowest input {report.slowest:.3f} s)",
        "loads:",
        *(f"  {name:<16} {report.outcomes[name]:>8}" for name in OUTCOMES),
        f"  (ParseError includes {report.duplicate_keys} DuplicateKeyError: a key named twice)",
        "validate(another context) of each loaded document:",
        *(f"  {name:<16} {report.revalidations[name]:>8}" for name in ("ok", "ValidationError")),
        f"failures: {sum(report.failure_counts.values())}",
        *(f"  {count:>8}  {signature}" for signature, count in report.failure_counts.most_common()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=100_000, help="inputs to try (default 100000)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the engine (default: random)")
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"), help="where failing inputs go")
    parser.add_argument("--only", type=int, default=None, help="check only the case of this index")
    parser.add_argument("--budget", type=float, default=TIME_BUDGET, help="seconds one input may take")
    parser.add_argument(
        "--skip", action="append", default=[], choices=sorted(SKIPPABLE), help="leave out an input class"
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    skip = frozenset(args.skip)
    print(f"fuzz_loads: {args.count} inputs, seed {seed}", flush=True)

    def on_stuck(case: Case) -> None:
        failure = Failure("hang", case, f"stuck past {HARD_TIME_LIMIT} s", "hang: stuck", HARD_TIME_LIMIT)
        path = save_failure(failure, args.out, 0, seed)
        print(f"STUCK on {short_repr(case.data)}; written to {path}", file=sys.stderr, flush=True)

    def progress(report: Report) -> None:
        failed = sum(report.failure_counts.values())
        print(f"  {report.count} inputs, {report.seconds:.0f} s, {failed} failures", flush=True)

    watchdog = _Watchdog(HARD_TIME_LIMIT, on_stuck)
    try:
        count = args.count if args.only is None else args.only + 1
        report = run(
            count,
            seed,
            skip=skip,
            time_budget=args.budget,
            progress=progress,
            watchdog=watchdog,
            only=args.only,
        )
    finally:
        watchdog.stop()
    print(format_report(report, seed))
    for number, failure in enumerate(report.failures, 1):
        path = save_failure(failure, args.out, number, seed)
        print(f"\nFAILURE {number}: {failure.signature}", file=sys.stderr)
        print(f"  input: {short_repr(failure.case.data)}", file=sys.stderr)
        print(f"  context: {short_repr(failure.case.context)}", file=sys.stderr)
        print(f"  written to {path}", file=sys.stderr)
        print("  " + failure.detail.strip().replace("\n", "\n  "), file=sys.stderr)
    return 1 if report.failure_counts else 0


if __name__ == "__main__":
    sys.exit(main())
