"""Keys named twice in one JSON object, which orjson silently reads as the last.

Two JSON readers may disagree on which of the two values counts (most keep
the last, some the first, some refuse), so a file that names a key twice
means different things to different tools: it is refused.

Finding them costs one C-level pass over the bytes. Every member of an object
has one `:` outside strings, so a document without duplicates has exactly as
many colons as its parsed objects have members, plus the colons inside its
parsed strings. A duplicate adds a member (and its value's members and
strings) that the parsed document no longer holds, so the count comes out
higher. Equal counts prove there is none; otherwise the slow, precise scan
decides and names each one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ._errors import Index, MapKey, Path, Problem, describe, problem

__all__ = ["duplicate_problems", "has_no_duplicates"]

Data = bytes | bytearray | str

_BACKSLASH = ord("\\")
_SLICE = 1 << 20  # a file up to 1 MiB is one slice: the bytes or str itself, not a copy


def has_no_duplicates(data: Data, document: dict[str, Any], rank_maps: dict[str, Any]) -> bool:
    """True when `data`, parsed as `document`, certainly names no key twice.

    `document` has structured, so its required fields are there. `rank_maps`
    is its scaling-factor object, already known to map canonical integer keys
    to objects of numbers: its colons are counted without visiting a scale.
    Where the document holds a number in that object's place, `rank_maps` is
    `{}`. False means "ask `duplicate_problems`".
    """
    # What a deletion removes, not count(): deleting finds each colon with
    # memchr, which beats count()'s byte-by-byte loop by 15 to 20 % on these
    # files, copy included. The copy is made a slice at a time: a fresh copy
    # of a whole large file is memory the system hands over page by page,
    # which cost a 256 x 1024 load 20 ns per scale more than slices do.
    found = 0
    if isinstance(data, str):
        for start in range(0, len(data), _SLICE):
            text_slice = data[start : start + _SLICE]
            found += len(text_slice) - len(text_slice.replace(":", ""))
        if "\\" in data:
            found += data.count("\\u003a") + data.count("\\u003A")
    else:
        for start in range(0, len(data), _SLICE):
            byte_slice = data[start : start + _SLICE]
            found += len(byte_slice) - len(byte_slice.replace(b":", b""))
        if _BACKSLASH in data:  # a byte's value: `in` goes straight to memchr()
            # An escaped colon is one in the parsed string but not in the bytes.
            # Counting `\\u003a` (an escaped backslash, then text) too only
            # errs towards the precise scan.
            found += data.count(b"\\u003a") + data.count(b"\\u003A")
    return found == _colons_in(document, rank_maps)


def _colons_in(document: dict[str, Any], rank_maps: dict[str, Any]) -> int:
    """Members of every object plus colons in every string, as parsed."""
    kv_cache = document["kv_cache"]
    if len(document) == 2 and len(kv_cache) == 2:
        # Just the required fields: no walk, which costs a small file more than its scales do.
        model_type, dtype = document["model_type"], kv_cache["dtype"]
        in_text: int = dtype.count(":") + (model_type.count(":") if type(model_type) is str else 0)
        return 4 + in_text + len(rank_maps) + sum(map(len, rank_maps.values()))
    return _colons_anywhere(document, rank_maps)


def _colons_anywhere(value: Any, rank_maps: dict[str, Any]) -> int:
    """`_colons_in` for any document: a walk of everything but the rank maps."""
    total = 0
    # A stack, not recursion: extra keys may hold nesting as deep as the parser allows.
    stack = [value]
    while stack:
        node = stack.pop()
        if node is rank_maps:
            total += len(node) + sum(map(len, node.values()))
            continue
        if type(node) is dict:
            total += len(node)
            for key, item in node.items():
                total += key.count(":")
                if type(item) is str:
                    total += item.count(":")
                elif type(item) is dict or type(item) is list:
                    stack.append(item)
        else:
            for item in node:
                if type(item) is str:
                    total += item.count(":")
                elif type(item) is dict or type(item) is list:
                    stack.append(item)
    return total


# The tokens of JSON already known to be valid: strings, punctuation, and
# everything else (numbers, true, false, null) as runs of other characters.
# Compiled on first use (re keeps it), not at import: most programs never need it.
_JSON_LEXEME = r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],:]|[^\s{}\[\],:"]+'


def duplicate_problems(data: Data) -> list[Problem]:
    """One problem per key named more than once in an object, in source order.

    `data` must be JSON that orjson has parsed: strict and UTF-8. A scan of
    tokens with a stack of open containers, so any depth is fine.
    """
    text = data if isinstance(data, str) else bytes(data).decode("utf-8")
    found: list[tuple[int, Path, str, int]] = []  # (where the key first appears, path, key, count)
    # Per open container: its path, and for an object the keys seen (with
    # where each first appeared and how often), for an array the index.
    paths: list[Path] = []
    keys: list[dict[str, list[int]] | None] = []
    indexes: list[int] = []
    expect_key = False
    key = ""
    for match in re.finditer(_JSON_LEXEME, text):
        token = match.group()
        first = token[0]
        if first == '"' and expect_key:
            key = json.loads(token)
            seen = keys[-1]
            if seen is not None:  # always, in an object
                entry = seen.setdefault(key, [match.start(), 0])
                entry[1] += 1
            expect_key = False
            continue
        if first == "{" or first == "[":
            if not paths:
                path: Path = ()
            elif keys[-1] is None:
                path = (*paths[-1], Index(indexes[-1]))
            else:
                path = (*paths[-1], _element(paths[-1], key))
            paths.append(path)
            keys.append({} if first == "{" else None)
            indexes.append(0)
            expect_key = first == "{"
        elif first == "}" or first == "]":
            closed_path, seen = paths.pop(), keys.pop()
            indexes.pop()
            for name, (where, count) in (seen or {}).items():
                if count > 1:
                    found.append((where, (*closed_path, _element(closed_path, name)), name, count))
        elif first == ",":
            if keys[-1] is None:
                indexes[-1] += 1
            else:
                expect_key = True
    found.sort(key=lambda item: item[0])
    return [_problem(path, key, count) for _, path, key, count in found]


# Paths are shown this deep at most: a key named twice a thousand levels down
# must not make a message of kilobytes.
_DEEPEST_SHOWN = 16


def _problem(path: Path, key: str, count: int) -> Problem:
    what = f"this key appears {count} times in its object"
    if len(path) > _DEEPEST_SHOWN:
        depth = len(path) - 1 - _DEEPEST_SHOWN  # from the value shown to the object holding the key
        what = (
            f"key {describe(key)} appears {count} times in an object nested {depth} levels below this value"
        )
        path = path[:_DEEPEST_SHOWN]
    return problem(path, f"{what}; JSON readers disagree on which value counts, so name each key once")


def _element(path: Path, key: str) -> str | MapKey:
    # The document's own fields read as `.kv_cache.dtype`, as other problems name them.
    if (path == () or path == ("kv_cache",)) and key.isidentifier():
        return key
    return MapKey(key)
