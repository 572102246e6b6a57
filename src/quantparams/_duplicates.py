"""Keys named twice in one JSON object, which orjson silently reads as the last.

Two JSON readers may disagree on which of the two values counts (most keep
the last, some the first, some refuse), so a file that names a key twice
means different things to different tools: it is refused.

This is the precise scan, which names each one; the fast path's proof that
there is none is in `_fast`.
"""

from __future__ import annotations

from ._errors import Index, JsonPath, MapKey, Problem, describe, problem

__all__ = ["duplicate_problems"]

Data = bytes | bytearray | str


# What a path depends on, in JSON already known to be valid: strings (a key
# is a string followed by a colon) and brackets. Numbers, literals, commas and
# colons in between are skipped; an array's index is the count of its commas,
# counted between its tokens. Compiled on first use (re keeps them); `re` and
# `json` are imported then, not at import: most programs never need them.
_STRING_OR_BRACKET = r'["{}\[\]]'
_COLON_AFTER = r"[ \t\n\r]*:"


def duplicate_problems(data: Data) -> list[Problem]:
    """One problem per key named more than once in an object, in source order.

    `data` must be JSON that orjson has parsed: strict and UTF-8. A scan of
    tokens with a stack of open containers, so any depth is fine.
    """
    import json
    import re

    text = data if isinstance(data, str) else bytes(data).decode("utf-8")
    next_token = re.compile(_STRING_OR_BRACKET).search
    colon_after = re.compile(_COLON_AFTER).match
    found: list[tuple[int, JsonPath, str, int]] = []  # (where the key first appears, path, key, count)
    # Per open container: its path; for an object, the keys seen (with where
    # each first appeared and how often); for an array, its commas counted so
    # far and where the count stopped.
    paths: list[JsonPath] = []
    keys: list[dict[str, list[int]] | None] = []
    commas: list[list[int]] = []
    key = ""
    match = next_token(text)
    while match is not None:
        start = match.start()
        first = text[start]
        end = start + 1
        in_array = bool(keys) and keys[-1] is None
        if in_array:  # count its commas up to here
            count = commas[-1]
            count[0] += text.count(",", count[1], start)
        if first == '"':
            end = _string_end(text, start)
            colon = colon_after(text, end)
            if colon is not None:
                key = json.loads(text[start:end])
                seen = keys[-1]
                if seen is not None:  # always, in an object
                    entry = seen.setdefault(key, [start, 0])
                    entry[1] += 1
                end = colon.end()
        elif first == "{" or first == "[":
            if not paths:
                path: JsonPath = ()
            elif in_array:
                path = (*paths[-1], Index(commas[-1][0]))
            else:
                path = (*paths[-1], _element(paths[-1], key))
            paths.append(path)
            keys.append({} if first == "{" else None)
            commas.append([0, end])
            match = next_token(text, end)
            continue
        else:
            closed_path, seen = paths.pop(), keys.pop()
            commas.pop()
            for name, (where, times) in (seen or {}).items():
                if times > 1:
                    found.append((where, (*closed_path, _element(closed_path, name)), name, times))
        if keys and keys[-1] is None:  # what follows in the array is counted from here
            commas[-1][1] = end
        match = next_token(text, end)
    found.sort(key=lambda item: item[0])
    return [_problem(path, key, count) for _, path, key, count in found]


def _string_end(text: str, start: int) -> int:
    """Where the string that opens at `start` ends, past its closing quote.

    A quote closes it when an even number of backslashes precede it. Only the
    text since the previous quote can hold them, so each character is looked
    at a bounded number of times.
    """
    quote = start
    while True:
        previous, quote = quote, text.find('"', quote + 1)
        between = text[previous + 1 : quote]
        if (len(between) - len(between.rstrip("\\"))) % 2 == 0:
            return quote + 1


# Paths are shown this deep at most: a key named twice a thousand levels down
# must not make a message of kilobytes.
_DEEPEST_SHOWN = 16


def _problem(path: JsonPath, key: str, count: int) -> Problem:
    what = f"this key appears {count} times in its object"
    if len(path) > _DEEPEST_SHOWN:
        depth = len(path) - 1 - _DEEPEST_SHOWN  # from the value shown to the object holding the key
        what = (
            f"key {describe(key)} appears {count} times in an object nested {depth} levels below this value"
        )
        path = path[:_DEEPEST_SHOWN]
    return problem(path, f"{what}; JSON readers disagree on which value counts, so name each key once")


def _element(path: JsonPath, key: str) -> str | MapKey:
    # The document's own fields read as `.kv_cache.dtype`, as other problems name them.
    if (path == () or path == ("kv_cache",)) and key.isidentifier():
        return key
    return MapKey(key)
