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


# The tokens of JSON already known to be valid: strings, punctuation, and
# everything else (numbers, true, false, null) as runs of other characters.
# Compiled on first use (re keeps it); `re` and `json` are imported then, not
# at import: most programs never need them.
_JSON_LEXEME = r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],:]|[^\s{}\[\],:"]+'


def duplicate_problems(data: Data) -> list[Problem]:
    """One problem per key named more than once in an object, in source order.

    `data` must be JSON that orjson has parsed: strict and UTF-8. A scan of
    tokens with a stack of open containers, so any depth is fine.
    """
    import json
    import re

    text = data if isinstance(data, str) else bytes(data).decode("utf-8")
    found: list[tuple[int, JsonPath, str, int]] = []  # (where the key first appears, path, key, count)
    # Per open container: its path, and for an object the keys seen (with
    # where each first appeared and how often), for an array the index.
    paths: list[JsonPath] = []
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
                path: JsonPath = ()
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
