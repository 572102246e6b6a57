"""The precise loader: complete on its own, simple, and the oracle of `_fast`.

It parses, names every key named twice, structures (naming every problem of
the shape) and validates (naming every failed check). `loads` runs it for
every document the fast path declines; the tests run it alone.
"""

from __future__ import annotations

import orjson

from ._duplicates import duplicate_problems
from ._errors import DuplicateKeyError, ParseError, Problem
from ._schema import ContextLike, QuantParamSchema
from ._structure import document_from_json

__all__ = ["load_precise", "parse"]

Text = bytes | bytearray | memoryview | str

# Tokens Python's json module reads and writes, but that are not JSON.
_NOT_JSON_TOKENS = ("-Infinity", "Infinity", "NaN")


def load_precise(data: Text, context: ContextLike = None, *, validate: bool = True) -> QuantParamSchema:
    """What `loads(data, context, validate=validate)` returns or raises, found the slow, sure way."""
    if type(data) is memoryview:
        data = data.tobytes()
    parsed = parse(data)
    duplicates = duplicate_problems(data)
    if duplicates:
        raise DuplicateKeyError(duplicates)
    schema = document_from_json(parsed)
    if validate:
        schema.validate(context)
    return schema


def parse(data: object) -> object:
    """The parsed JSON value, or `ParseError` saying where and why it is not JSON."""
    try:
        return orjson.loads(data)  # type: ignore[arg-type]  # orjson refuses any other type
    except orjson.JSONDecodeError as error:
        raise ParseError([Problem("$", _parse_message(error, data))]) from None


def _parse_message(error: orjson.JSONDecodeError, data: object) -> str:
    # orjson reports bad UTF-8 at position 0; find the real place.
    try:
        if isinstance(data, (bytes, bytearray)):
            bytes(data).decode("utf-8")
        elif isinstance(data, str):
            data.encode("utf-8")
        else:
            return f"expected bytes or str to parse, got {type(data).__name__}"
    except (UnicodeDecodeError, UnicodeEncodeError) as bad:
        return f"not valid UTF-8: {bad.reason} at byte {bad.start}"
    where = f"at line {error.lineno}, column {error.colno} (char {error.pos})"
    token = _not_json_token(error.doc, error.pos)
    if token is not None:
        return (
            f"not valid JSON: {token} is not a JSON value (JSON numbers are finite; "
            f"a scale must be a finite number > 0) {where}"
        )
    return f"not valid JSON: {error.msg} {where}"


def _not_json_token(text: str, pos: int) -> str | None:
    """The token of `_NOT_JSON_TOKENS` that orjson stopped at, if any.

    orjson stops at "NaN" or "Infinity" itself, and after the sign of "-Infinity".
    """
    for token in _NOT_JSON_TOKENS:
        start = pos - 1 if token[0] == "-" else pos
        end = start + len(token)
        if start >= 0 and text.startswith(token, start) and not text[end : end + 1].isalnum():
            return token
    return None
