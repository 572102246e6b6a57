"""A large document read one TP rank at a time: parsed, checked and built.

orjson first reads a text into a buffer of its own. For a text under about
680 KiB that buffer is one it keeps; for a longer one it allocates a fresh
buffer of twelve bytes per byte of text (114 MB for a file of 256 TP ranks x
1024 layers). glibc's malloc serves a block over 32 MiB with fresh pages from
the system every time, handed over one by one as they are first touched: for
a text over 2.7 MiB the parse then costs a third more. (Smaller blocks come
from the heap once the first such block has been freed.) Such a file is
almost all scaling factors, one object per TP rank, so `load_in_pieces` hands
orjson one rank's object at a time, and then the rest of the document with a
`0` where the scaling factors were. Each rank is checked and built while its
text and its parsed object are still in the processor's cache, which costs
less than the same checks run over the whole document afterwards.

This is a fast path only: it reads the usual document, or gives up (None) and
leaves the text to `loads`' path for any document, which names every problem.
Whatever it builds is what that path builds. The argument that the pieces make
up the document is in the comments of `load_in_pieces`; the argument that no
key is named twice, in `_duplicates`.
"""

from __future__ import annotations

import re

import orjson

from ._convert import document_around
from ._duplicates import has_no_duplicates
from ._maps import LayerScales, RankScales, dense_layers, key_strings
from ._schema import QuantParamSchema

__all__ = ["PIECES_FROM", "load_in_pieces"]

# Texts longer than this (2.7 MiB) are read in pieces: those for which
# orjson's buffer is over 32 MiB. Measured, in ns per scale, pieces against
# whole: 2.3 and 2.4 MB texts, 96 against 96 and 100 against 100; 2.9 and
# 3.0 MB texts, 112 against 148 and 100 against 136.
PIECES_FROM = (32 << 20) // 12
# Each rank costs a few calls more in pieces; ranks smaller than this are
# cheaper to read whole. Measured on 9.5 MB texts: 4.5 KiB ranks load at 128
# ns per scale in pieces, 165 whole; 1.1 KiB ranks at 168 either way.
MIN_PIECE = 2048

_WS = rb"[ \t\n\r]*"  # JSON's whitespace, no more
_SCALING_FACTOR = b'"scaling_factor"'
_MAP_START = re.compile(_SCALING_FACTOR + _WS + b":" + _WS + rb"\{")
_RANK_START = re.compile(_WS + rb'"([0-9]+)"' + _WS + b":" + _WS + rb"\{")
_RANK_END = re.compile(_WS + rb"([,}])")


def load_in_pieces(
    data: bytes | bytearray, unsigned: bool, min_piece: int = MIN_PIECE
) -> QuantParamSchema | None:
    """The document `data` holds, structured but not validated; or None when
    the pieces do not certainly make up a document of the usual shape with no
    key named twice. `unsigned` says `data` holds no `-`."""
    start = data.find(_SCALING_FACTOR)
    # With no backslash before it, every quote before it opens or closes a
    # string; an even number of them puts this one outside all strings.
    if start < 0 or data.find(b"\\", 0, start) >= 0 or data.count(b'"', 0, start) % 2:
        return None
    match = _MAP_START.match(data, start)
    if match is None:
        return None
    map_start = match.end() - 1
    ranks: dict[str, LayerScales] = {}
    rank_count = 0
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
        piece = data[opening : closing + 1]
        try:
            layers_json = orjson.loads(piece)
        except orjson.JSONDecodeError:
            return None
        # Every member has a colon outside strings: as many colons as parsed
        # members prove that no layer is named twice (see `_duplicates`).
        if len(piece) - len(piece.replace(b":", b"")) != len(layers_json):
            return None
        layers = dense_layers(layers_json, True, unsigned)
        if layers is None:
            return None
        ranks[match.group(1).decode()] = layers
        rank_count += 1
        match = _RANK_END.match(data, closing + 1)
        if match is None:
            return None
        end = match.end()
        if match.group(1) == b"}":
            break
    # Keys "0".."n-1", one per piece: no rank named twice, none out of order.
    if len(ranks) != rank_count or list(ranks) != key_strings(rank_count):
        return None
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
    schema = document_around(document, RankScales._from_dense(ranks))
    # The rest names no key twice, nor does the map (its members are the
    # ranks, each named once) or any rank in it.
    if schema is None or not has_no_duplicates(rest, document, {}):
        return None
    return schema
