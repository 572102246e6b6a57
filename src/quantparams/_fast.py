"""The fast path: the usual sound document, read in one flat pass, or declined.

`load_fast` returns exactly what `_precise.load_precise` returns for the same
arguments (equal values, the same key order, the same types), or None: it
declines whatever it is not sure of, and `loads` then runs the precise loader,
which names every problem. It is sure of a document when:

- orjson parses it, and no key is named twice (see the count of colons in `_names_no_key_twice`);
- its model type is a string or null and its dtype is FP8's;
- its ranks and each rank's layers are keyed "0".."n-1" in order, and
  every scale is a JSON float > 0 (orjson's floats are finite);
- when asked to validate against a context, the context is well formed and
  the file fits it: `_checks.fits_context`, the same check `validate` makes.

So the precise loader would find no problem, and would build maps of the
same keys and values: the fast path keeps orjson's dicts as the maps' storage
instead of copying them, since no one else holds them.

A large text is parsed one TP rank at a time (`_pieces`).
"""

from __future__ import annotations

from typing import Any

import orjson

from ._checks import fits_context
from ._format import FP8_DTYPE
from ._maps import RankScales
from ._pieces import MIN_PIECE, PIECES_FROM, in_pieces
from ._schema import KVCacheQuantSchema, QuantParamSchema
from ._storage import key_strings

__all__ = ["load_fast"]

_MISSING: Any = object()
# A float method that returns its float unchanged and raises TypeError for
# anything else (int, bool, str, ...): a type check that runs inside min().
_FLOAT_ONLY = float.conjugate
# Asked for a byte's value, `in` goes straight to memchr().
_MINUS = ord("-")
_BACKSLASH = ord("\\")


def load_fast(
    data: object,
    context: object,
    validate: bool,
    pieces_from: int | None = None,
    min_piece: int | None = None,
) -> QuantParamSchema | None:
    """What the precise loader returns for `data`, or None when not sure (see the module).

    Bytes longer than `pieces_from` are read in pieces of at least `min_piece`
    bytes; both have defaults that suit the library, and tests set them.
    (Not keyword-only: Python fills in left-out keyword-only arguments more
    slowly, on every call.)

    It parses and checks the document's shape itself, then asks the steps
    below in turn; each declines by giving None (or False). They are few and
    flat, and their checks run in C where they can: on a small file every
    call costs about as much as a check.
    """
    pieces = None
    if type(data) is bytes or type(data) is bytearray:
        if len(data) > (PIECES_FROM if pieces_from is None else pieces_from):
            pieces = in_pieces(data, MIN_PIECE if min_piece is None else min_piece, _sound_layers)
            if pieces is None:
                return None
            data = pieces[0]  # the rest of the text, from here on
    elif type(data) is not str:
        return None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    # The shape: a model type that is a string or null, FP8's dtype; the
    # scaling factors are the steps' to look at.
    if type(document) is not dict:
        return None
    model_type = document.get("model_type", _MISSING)
    kv_cache = document.get("kv_cache")
    if type(kv_cache) is not dict or not (model_type is None or type(model_type) is str):
        return None
    dtype = kv_cache.get("dtype")
    if type(dtype) is not str or dtype != FP8_DTYPE:
        return None
    scaling_json = kv_cache.get("scaling_factor", _MISSING)
    layer_count = _sound_ranks(data, scaling_json, pieces)
    if layer_count is None or not _names_no_key_twice(
        data, document, kv_cache, model_type, scaling_json, layer_count
    ):
        return None
    # The rank map's storage: the parsed scaling factors, or the pieces' ranks.
    layer_maps: dict[str, dict[str, float]] = scaling_json if pieces is None else pieces[1]
    if (
        validate
        and context is not None
        and not fits_context(context, (len(layer_maps), layer_count), model_type)
    ):
        return None
    return _document(model_type, dtype, RankScales._trusted(layer_maps, True, layer_count))


Text = bytes | bytearray | str
Pieces = tuple[bytes | bytearray, dict[str, dict[str, float]], int]


def _sound_ranks(text: Text, scaling_json: object, pieces: Pieces | None) -> int | None:
    """The number of layers every rank has (-1 when ranks differ) in the
    parsed scaling factors, or in the pieces; None unless their ranks are
    keyed "0".."n-1" in order, each a sound layer map (`_sound_layers`)."""
    if pieces is not None:
        # The text left holds a `0` where the scaling factors were.
        if type(scaling_json) is not int or scaling_json != 0:
            return None
        return pieces[2]
    if type(scaling_json) is not dict or list(scaling_json) != key_strings(len(scaling_json)):
        return None
    # Without a minus sign anywhere in the text, no scale can be negative,
    # which makes the check of every scale cheaper. One memchr() finds out.
    unsigned = (_MINUS if type(text) is not str else "-") not in text
    layer_count = -1  # every rank's, when all agree
    first = True
    for layers_json in scaling_json.values():
        if not _sound_layers(layers_json, unsigned):
            return None
        if first:
            layer_count = len(layers_json)
            first = False
        elif len(layers_json) != layer_count:
            layer_count = -1
    return layer_count


def _names_no_key_twice(
    text: Text,
    document: dict[str, Any],
    kv_cache: dict[str, Any],
    model_type: str | None,
    scaling_json: Any,
    layer_count: int,
) -> bool:
    """True when no object in `text` names a key twice, its scaling factors
    being sound rank maps of `layer_count` layers each (-1: ranks differ), or
    the `0` left by the pieces, each of which was counted on its own.

    Every member of an object has one `:` outside strings, so a text without
    duplicates has exactly as many colons as its parsed objects have members,
    plus the colons inside its parsed strings. A duplicate adds a member (and
    its value's members and strings) that the parsed document no longer
    holds, so the count comes out higher. An escape such as `\\u003a` is a
    colon in a parsed string but not in the text: a text with a backslash is
    declined.
    """
    if type(text) is str:
        if "\\" in text:
            return False
        colons = text.count(":")
    else:
        if _BACKSLASH in text:
            return False
        # What a deletion removes, not count(): deleting finds each colon
        # with memchr, which beats count()'s byte-by-byte loop, copy included.
        colons = len(text) - len(text.replace(b":", b""))  # type: ignore[arg-type]
    if len(document) == 2 and len(kv_cache) == 2:
        # Just the required fields, and FP8's dtype has no colon: no walk,
        # which costs a small file more than its scales do.
        if type(scaling_json) is not dict:
            rank_members = 0
        elif layer_count >= 0:
            rank_members = len(scaling_json) * (1 + layer_count)
        else:
            rank_members = len(scaling_json) + sum(map(len, scaling_json.values()))
        return colons == 4 + rank_members + (model_type.count(":") if model_type else 0)
    return colons == _colons_anywhere(document, scaling_json)


def _sound_layers(layers: object, unsigned: bool) -> bool:
    """True when `layers` is a parsed object keyed "0".."n-1" in order with
    float values > 0: the storage of a sound layer map, as it is. `unsigned`
    says the text it was parsed from holds no `-`."""
    if type(layers) is not dict or list(layers) != key_strings(len(layers)):
        return False
    # One pass checks that every value is a float and > 0. Without a sign in
    # the text, a float that is not zero is > 0, which all() asks for less
    # than min() does. min() of nothing is an empty map's, which is sound.
    try:
        if unsigned:
            return all(map(_FLOAT_ONLY, layers.values()))
        return min(map(_FLOAT_ONLY, layers.values()), default=1.0) > 0.0
    except TypeError:  # not a float: the precise path decides
        return False


# The document is built past the attrs `__init__`s, whose converters would
# hand these parts back unchanged at a cost a small file's load notices.
# tests/test_fast_paths.py checks that it is the document attrs builds.
_new = object.__new__
_set_dtype = vars(KVCacheQuantSchema)["dtype"].__set__
_set_scaling_factor = vars(KVCacheQuantSchema)["scaling_factor"].__set__
_set_model_type = vars(QuantParamSchema)["model_type"].__set__
_set_kv_cache = vars(QuantParamSchema)["kv_cache"].__set__


def _document(model_type: str | None, dtype: str, ranks: RankScales) -> QuantParamSchema:
    """`QuantParamSchema(model_type, KVCacheQuantSchema(dtype, ranks))`, for parts already of those types."""
    kv_cache = _new(KVCacheQuantSchema)
    _set_dtype(kv_cache, dtype)
    _set_scaling_factor(kv_cache, ranks)
    document = _new(QuantParamSchema)
    _set_model_type(document, model_type)
    _set_kv_cache(document, kv_cache)
    return document


def _colons_anywhere(value: Any, rank_maps: Any) -> int:
    """Members of every object plus colons in every string, as parsed: a walk
    of everything but the rank maps, already known to map canonical keys to
    objects of floats, whose colons are counted without visiting a scale."""
    total = 0
    # A stack, not recursion: extra keys may hold nesting as deep as the parser allows.
    stack = [value]
    while stack:
        node: Any = stack.pop()
        if node is rank_maps:
            total += len(node) + sum(map(len, node.values()))
            continue
        items = node.items() if type(node) is dict else enumerate(node)
        if type(node) is dict:
            total += len(node) + sum(key.count(":") for key in node)
        for _, item in items:
            if type(item) is str:
                total += item.count(":")
            elif type(item) is dict or type(item) is list:
                stack.append(item)
    return total
