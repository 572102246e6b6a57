"""Reading a large text one TP rank at a time, for the fast path.

orjson parses a large text through a fresh buffer many times the text's size,
which the C allocator takes from the system anew on every parse and the system
hands over page by page as it is first touched: past a size, the parse itself
slows, on every load. A file that large is almost all scaling factors, one
object per TP rank, so orjson is handed one rank's object at a time, each
small enough for the buffer orjson keeps and reuses, and then the rest of the
document with a `0` where the scaling factors were. Each rank is checked while
its text and its parsed object are still in the processor's cache. The gain
is measured by benchmarks/breakdown.py (in pieces and whole, side by side).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from ._storage import key_strings

__all__ = ["MIN_PIECE", "PIECES_FROM", "LayerCheck", "in_pieces"]

LayerCheck = Callable[[object, bool], bool]

# The size above which glibc's malloc serves every block with fresh pages (its
# largest mmap threshold), and how many bytes orjson's buffer takes per byte
# of text.
_MMAP_THRESHOLD_MAX = 32 << 20
_ORJSON_BUFFER_PER_BYTE = 12
PIECES_FROM = _MMAP_THRESHOLD_MAX // _ORJSON_BUFFER_PER_BYTE
"""Texts longer than this are read in pieces: the length at which orjson's
buffer for the whole text would come fresh from the system."""
MIN_PIECE = 2048
"""Each rank costs a few calls more in pieces: smaller ranks are cheaper whole."""

_MINUS = ord("-")
_SCALING_FACTOR = b'"scaling_factor"'
_JSON_SPACE = b" \t\n\r"


def in_pieces(
    data: bytes | bytearray, min_piece: int, sound_layers: LayerCheck
) -> tuple[bytes | bytearray, dict[str, dict[str, float]], int] | None:
    """The ranks' objects of `data` as parsed, read one rank at a time, their
    layer count (-1 when ranks differ), and the rest of the text, with a `0`
    where the scaling factors were; or None when the pieces do not certainly
    make up the document's scaling factors, all sound.

    A rank's object shorter than `min_piece` bytes gives None too: such
    ranks are cheaper read whole. `sound_layers` is the fast path's check of
    one rank's parsed object, told whether its text holds no minus sign."""
    start = data.find(_SCALING_FACTOR)
    # With no backslash before it, every quote before it opens or closes a
    # string; an even number of them puts this one outside all strings.
    if start < 0 or data.find(b"\\", 0, start) >= 0 or data.count(b'"', 0, start) % 2:
        return None
    end = _after(data, start + len(_SCALING_FACTOR), b":")
    map_start = _after(data, end, b"{") - 1
    if map_start < 0:
        return None
    ranks: dict[str, dict[str, float]] = {}
    rank_count = 0
    layer_count = -1
    end = map_start + 1
    while True:
        # `"<digits>" : {`
        key_start = _after(data, end, b'"')
        key_end = data.find(b'"', key_start) if key_start >= 0 else -1
        opening = _after(data, _after(data, key_end + 1, b":"), b"{") - 1 if key_end >= 0 else -1
        if opening < 0:
            return None
        # The rank's object ends at the first "}" after its "{", or orjson
        # refuses the piece: had that "}" been inside a string, the piece
        # would end in the string; had it closed a nested object, the piece
        # would be missing its own "}". Nor may it hold an array: orjson
        # limits how deep a whole document nests, and a piece on its own
        # sits three levels higher.
        closing = data.find(b"}", opening)
        if closing - opening < min_piece or data.find(b"[", opening, closing) >= 0:
            return None  # also when no "}" is found
        piece = data[opening : closing + 1]
        try:
            layers_json = orjson.loads(piece)
        except orjson.JSONDecodeError:
            return None
        # Every member has a colon outside strings, and a sound piece has no
        # strings but its keys: as many colons as members prove no layer is
        # named twice (see `_fast._names_no_key_twice`).
        colons = len(piece) - len(piece.replace(b":", b""))
        if not sound_layers(layers_json, _MINUS not in piece) or colons != len(layers_json):
            return None
        if not ranks:
            layer_count = len(layers_json)
        elif len(layers_json) != layer_count:
            layer_count = -1
        ranks[data[key_start:key_end].decode("ascii", "replace")] = layers_json
        rank_count += 1
        end = _after(data, closing + 1, b",")
        if end < 0:
            end = _after(data, closing + 1, b"}")
            break
    # Keys "0".."n-1", one per piece: no rank named twice, none out of order.
    if end < 0 or len(ranks) != rank_count or list(ranks) != key_strings(rank_count):
        return None
    # The pieces and the text between them make up one JSON object, so the
    # document is valid exactly when it is with a plain value in its place.
    rest = data[:map_start] + b"0" + data[end:]
    # Without backslashes, a key that reads "scaling_factor" is spelled so:
    # found once, it is the one whose value the `0` replaced.
    if b"\\" in rest or rest.count(_SCALING_FACTOR) != 1:
        return None
    # The caller reads the rest as a document. It must name no key twice; nor
    # does the map (its members are the ranks, each named once) or any rank in it.
    return rest, ranks, layer_count


def _after(data: bytes | bytearray, start: int, token: bytes) -> int:
    """Where `token` ends, when only JSON whitespace lies between `start` and it; else -1."""
    if start < 0:
        return -1
    at = start
    while at < len(data) and data[at] in _JSON_SPACE:
        at += 1
    return at + len(token) if data.startswith(token, at) else -1
