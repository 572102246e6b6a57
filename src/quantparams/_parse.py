"""`orjson.loads`, in pieces for a large document.

orjson first reads a text into a buffer of its own. For a text under about
680 KiB that buffer is one it keeps; for a longer one it allocates a fresh
buffer of twelve bytes per byte of text (114 MB for a file of 256 TP ranks x
1024 layers), which the system maps afresh on every call and hands over page
by page: at that size the parse then costs a third more, and a large file
parsed whole is slower per scale than a small one. Such a file is almost all
scaling factors, one object per TP rank, so `parse` hands orjson one rank's
object at a time, and then the rest of the document with a `0` where the
scaling factors were.

What comes out is what `orjson.loads(data)` gives, or the pieces are given up
and orjson reads the text whole, so that a broken file gets orjson's own
error. The argument that the two agree is in the comments of `_in_pieces`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

__all__ = ["parse"]

# Texts longer than this are parsed in pieces: just under the size for which
# orjson 3.13 still uses its own buffer (12 x length + 256 < 8 MiB).
PIECES_FROM = 640 * 1024
# Each rank's object costs a few calls; ranks smaller than this are cheaper to
# parse whole (measured: 1.1 KiB ranks, 32 layers each, are faster in pieces,
# 0.6 KiB ones slower).
MIN_PIECE = 1024

_WS = rb"[ \t\n\r]*"  # JSON's whitespace, no more
_SCALING_FACTOR = b'"scaling_factor"'
_MAP_START = re.compile(_SCALING_FACTOR + _WS + b":" + _WS + rb"\{")
_RANK_START = re.compile(_WS + rb'"([0-9]+)"' + _WS + b":" + _WS + rb"\{")
_RANK_END = re.compile(_WS + rb"([,}])")


def parse(data: bytes | bytearray | memoryview | str) -> Any:
    """`orjson.loads(data)`, faster for a large document of the usual shape."""
    if isinstance(data, (bytes, bytearray)) and len(data) > PIECES_FROM:
        parsed = _in_pieces(data)
        if parsed is not None:
            return parsed
    return orjson.loads(data)


def _in_pieces(data: bytes | bytearray, min_piece: int = MIN_PIECE) -> Any:
    """`orjson.loads(data)` from pieces, or None when the pieces do not
    certainly make up the document."""
    start = data.find(_SCALING_FACTOR)
    # With no backslash before it, every quote before it opens or closes a
    # string; an even number of them puts this one outside all strings.
    if start < 0 or data.find(b"\\", 0, start) >= 0 or data.count(b'"', 0, start) % 2:
        return None
    match = _MAP_START.match(data, start)
    if match is None:
        return None
    map_start = match.end() - 1
    ranks: dict[str, Any] = {}
    view = memoryview(data)
    end = match.end()
    while True:
        match = _RANK_START.match(data, end)
        if match is None:
            return None
        # The rank's object ends at the first "}" after its "{", or orjson
        # refuses the piece: had that "}" been inside a string, the piece
        # would end in the string; had it closed a nested object, the piece
        # would be missing its own "}".
        opening = match.end() - 1
        closing = data.find(b"}", opening)
        if closing - opening < min_piece:  # also when none is found
            return None
        # Nor may it hold an array: orjson limits how deep a whole document
        # nests, and a piece on its own sits three levels higher.
        if data.find(b"[", opening, closing) >= 0:
            return None
        try:
            # Assigning keeps orjson's order and its choice for a key named
            # twice: the first place, the last value.
            ranks[match.group(1).decode()] = orjson.loads(view[opening : closing + 1])
        except orjson.JSONDecodeError:
            return None
        match = _RANK_END.match(data, closing + 1)
        if match is None:
            return None
        end = match.end()
        if match.group(1) == b"}":
            break
    # The pieces and the text between them make up one JSON object, so the
    # document is valid exactly when it is with a plain value in its place.
    rest = data[:map_start] + b"0" + data[end:]
    # Without backslashes, a key that reads "scaling_factor" is spelled so:
    # found once, it is the one whose value the `0` replaced.
    if b"\\" in rest or rest.count(_SCALING_FACTOR) != 1:
        return None
    try:
        document = orjson.loads(rest)
    except orjson.JSONDecodeError:
        return None
    kv_cache = document.get("kv_cache") if type(document) is dict else None
    if type(kv_cache) is not dict or type(kv_cache.get("scaling_factor")) is not int:
        return None
    kv_cache["scaling_factor"] = ranks
    return document
