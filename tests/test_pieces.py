"""Loading a large document in pieces builds what the precise loader builds.

The fast path reads a text over `PIECES_FROM` bytes one TP rank at a time. It may decline
(None) whenever it likes; when it does not, its result must be the precise
loader's document, and it must decline every text the precise loader refuses.
These tests read in pieces of any size, so that small texts exercise it.
"""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import quantparams
import quantparams._fast
import quantparams._pieces
from agreement import assert_loaders_agree
from quantparams import DuplicateKeyError, ParseError, QuantParamSchema, ValidationError
from quantparams._fast import load_fast
from quantparams._pieces import MIN_PIECE, PIECES_FROM, LayerCheck
from strategies import sound_documents


def _in_pieces(data: bytes | bytearray, min_piece: int = 0) -> QuantParamSchema | None:
    """The fast path's document for `data` read in pieces (of any size, unless told), or None."""
    return load_fast(data, None, True, pieces_from=0, min_piece=min_piece)


def _agrees(data: bytes) -> QuantParamSchema | None:
    """What reading in pieces gives, checked against the precise loader with and without validating."""
    assert_loaders_agree(data)
    assert_loaders_agree(data, validate=False)
    return _in_pieces(data)


_SOUND = b'{"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": %s}}'


@pytest.mark.parametrize(
    "scaling",
    [
        b'{"0": {"0": 0.5, "1": 0.25}, "1": {"0": 0.5, "1": 0.25}}',
        b'{\n\t"0" :\r\n {"0":0.5} ,\n "1":{}  }',
        b'{"0": {"0": 0.5, "1": 1e-3, "2": 2.5E+2}}',
    ],
)
def test_the_usual_shapes_are_loaded_in_pieces(scaling: bytes) -> None:
    assert _agrees(_SOUND % scaling) is not None


@pytest.mark.parametrize(
    "data",
    [
        b'{"model_type": null, "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": {"0": 0.5}}}}',
        b'{"kv_cache": {"scaling_factor": {"0": {"0": 0.5}}, "dtype": "float8_e4m3fn"}, "model_type": "m"}',
        b'{"note": {"a:b": [1, {"c": 2}]}, "model_type": "m",'
        b' "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": {"0": 0.5}}, "more": ":"}}',
    ],
)
def test_the_other_fields_may_be_in_any_order_and_have_company(data: bytes) -> None:
    assert _agrees(data) is not None


@pytest.mark.parametrize(
    "data",
    [
        # Left to the precise loader, which loads them or names what is wrong.
        _SOUND % b'{"0": {"0": 1, "1": 2}}',  # integers are scales too
        _SOUND % b'{"0": {"0": 0.0, "1": 0.5}}',  # unsound
        _SOUND % b'{"0": {"0": -0.5, "1": 1e-3}}',
        b'{"model_type": null, "kv_cache": {"dtype": "x", "scaling_factor": {"0": {"0": 0.5}}}}',
        _SOUND % b'{"0": {"0": 1, "1": true, "x": null, "2": false, "3": "text"}}',
        _SOUND % b'{"0": {"0": "0.5"}}',
        _SOUND % b'{"0": {"1": 0.5}}',  # a layer map that is not 0..n-1
        _SOUND % b'{"01": {"0": 0.5}, "1": {"0": 0.5}}',
        _SOUND % b'{"1": {"0": 0.5}, "0": {"0": 0.5}}',
        _SOUND % b'{"1": {"0": 0.5}}',
        _SOUND % b'{"0": {"0": {"1": 0.5}}}',  # a nested object in a rank
        _SOUND % b'{"0": {"a}": 0.5}}',  # a brace inside a key
        _SOUND % b'{"0": {"0": "}"}}',  # a brace inside a value
        _SOUND % b'{"a": {"0": 0.5}}',  # a rank key that is not digits
        _SOUND % b'{"0": 0.5}',  # a rank that is not an object
        _SOUND % b"{}",
        _SOUND % b'{"0": {"0": 0.5}, "1": [1]}',
        _SOUND % (b'{"0": {"0": ' + b"[" * 1022 + b"]" * 1022 + b"}}"),  # too deep only in the whole
        _SOUND % b'{"0": {"0": 0.5}, "1": {"0": 0.5}, "2"}',
        _SOUND % b'{"\\u0030": {"0": 0.5}}',
        b'{"model_type": 1, "kv_cache": {"dtype": "x", "scaling_factor": {"0": {"0": 0.5}}}}',
        b'{"kv_cache": {"dtype": "x", "scaling_factor": {"0": {"0": 0.5}}}}',
        b'{"model_type": "m", "kv_cache": {"dtype": 8, "scaling_factor": {"0": {"0": 0.5}}}}',
        b'{"model_type": "\\"scaling_factor\\": {", "kv_cache": {"dtype": "x", "scaling_factor": {"0": {}}}}',
        b'{"model_type": "scaling_factor", "kv_cache": {"dtype": "x", "scaling_factor": {"0": {}}}}',
        b'{"model_type": "\\u0022", "kv_cache": {"dtype": "x", "scaling_factor": {"0": {}}}}',
        # The key elsewhere: in an extra key, twice, escaped, as a value.
        b'{"x": {"scaling_factor": {"0": {}}}, "kv_cache": {"dtype": "x"}}',
        b'{"x": {"scaling_factor": {"0": {"0": 0.5}}}, "model_type": null, "kv_cache": {"dtype": "float8_e4m3fn"}}',
        b'{"x": {"scaling_factor": {"0": {}}}, "kv_cache": {"dtype": "x", "scaling_factor": {"0": {}}}}',
        b'{"kv_cache": {"scaling_factor": {"0": {}}, "scaling_factor": {"1": {}}}}',
        b'{"kv_cache": {"scaling_factor": {"0": {}}, "scaling\\u005ffactor": {"1": {}}}}',
        b'{"kv_cache": {"scaling_factor": {"0": {}}}, "kv_cache": {"dtype": "x"}}',
        b'{"scaling_factor": {"0": {}}}',
        b'["scaling_factor", {"0": {}}]',
        b'{"kv_cache": {"scaling_factor": {"0": {}}, "note": "\\n"}}',
        # A key named twice, anywhere.
        _SOUND % b'{"0": {"0": 0.5}, "1": {"0": 0.5}, "0": {"0": 0.75}}',
        _SOUND % b'{"0": {"0": 0.5}, "0": {"0": 0.5}, "1": {"0": 0.5}}',
        _SOUND % b'{"0": {"0": 0.5, "0": 0.75}}',
        _SOUND % b'{"0": {"0": "a:b", "0": 0.75}}',
        _SOUND.replace(b'"model_type": "llama"', b'"model_type": "a", "model_type": "llama"') % b'{"0": {}}',
        _SOUND.replace(b'"dtype"', b'"dtype": "x", "dtype"') % b'{"0": {}}',
        # Broken: the whole path's error.
        _SOUND % b'{"0": {"0": 0.5},}',
        _SOUND % b'{"0": {"0": 0.5}} x',
        (_SOUND % b'{"0": {"0": 0.5}}') + b" x",
        _SOUND % b'{"0": {"0": 0.5}\x0c}',  # a form feed is not JSON whitespace
        _SOUND % b'{"0": {"0": NaN}}',
        _SOUND % b'{"0": {"\xff": 0.5}}',
        _SOUND % b'{"0": {"0": 0.5}',
        (_SOUND % b'{"0": {"0": 0.5}}')[:-1],
        b'{"kv_cache": {"scaling_factor": {"0": {"0": 0.5}}',
    ],
)
def test_any_other_text_is_left_to_the_precise_loader(data: bytes) -> None:
    assert _in_pieces(data) is None
    _agrees(data)


# Bytes that could split a piece in the wrong place, and JSON's own.
_NOISE = st.sampled_from(
    [b"{", b"}", b'"', b"\\", b":", b",", b" ", b"\n", b"[", b"]", b"0", b"x", b"\\u0022"]
)


@settings(max_examples=300)
@given(sound_documents(), st.randoms(use_true_random=False), st.lists(_NOISE, max_size=3))
def test_pieces_agree_with_the_precise_loader_on_any_document_and_its_corruptions(
    sound: Any, rng: random.Random, noise: list[bytes]
) -> None:
    text = json.dumps(sound.document, indent=rng.choice([None, 0, 1, 2])).encode()
    _agrees(text)
    for inserted in noise:
        at = rng.randrange(len(text) + 1)
        text = text[:at] + inserted + text[at:]
        _agrees(text)


@functools.cache
def _large_document(tp_size: int, layers: int) -> bytes:
    rng = random.Random(f"{tp_size}x{layers}")  # noqa: S311 - test data, not secrets
    scaling = {str(r): {str(i): rng.uniform(0.004, 0.06) for i in range(layers)} for r in range(tp_size)}
    document = {"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": scaling}}
    return json.dumps(document, indent=2).encode()


def test_a_large_file_loads_in_pieces_with_the_same_result(tmp_path: Path) -> None:
    data = _large_document(80, 1024)
    assert len(data) > PIECES_FROM
    assert _in_pieces(data, MIN_PIECE) is not None
    assert _agrees(data) is not None
    path = tmp_path / "large.json"
    path.write_bytes(data)
    schema = quantparams.load(path, {"tp_size": 80, "tp_rank": 79, "num_hidden_layers": 1024})
    assert (
        schema.kv_cache.scaling_factor[79][1023]
        == orjson.loads(data)["kv_cache"]["scaling_factor"]["79"]["1023"]
    )
    assert quantparams.dumps(schema) == orjson.dumps(orjson.loads(data))
    # Every form of text loads to the same document, in pieces or whole.
    for text in (bytearray(data), memoryview(data), data.decode()):
        assert quantparams.loads(text) == schema
    assert _in_pieces(bytearray(data), MIN_PIECE) == schema


def test_loads_reads_a_large_file_in_pieces_and_a_smaller_one_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    read_in_pieces: list[int] = []

    reader = quantparams._pieces.in_pieces

    def recording(data: bytes | bytearray, min_piece: int, sound_layers: LayerCheck) -> object:
        parts = reader(data, min_piece, sound_layers)
        read_in_pieces.append(parts is not None)
        return parts

    monkeypatch.setattr(quantparams._fast, "in_pieces", recording)
    large = _large_document(80, 1024)
    quantparams.loads(large)
    quantparams.loads(_large_document(8, 1024))
    assert len(large) > PIECES_FROM > len(_large_document(8, 1024))
    assert read_in_pieces == [True]


def test_small_ranks_are_loaded_whole() -> None:
    data = _large_document(12288, 8)
    assert len(data) > PIECES_FROM
    assert _in_pieces(data, MIN_PIECE) is None  # each rank well under MIN_PIECE
    assert _in_pieces(data) == quantparams.loads(data)
    assert len(json.dumps({str(i): 0.01 for i in range(8)}, indent=2)) < MIN_PIECE


def test_problems_in_a_large_file_are_found_as_in_a_small_one() -> None:
    data = _large_document(80, 1024)
    broken = data.replace(b'"17": 0.', b'"17": -0.', 1)
    with pytest.raises(ValidationError) as caught:
        quantparams.loads(broken)
    assert [p.path for p in caught.value.problems] == ['$.kv_cache.scaling_factor["0"]["17"]']
    twice = data.replace(b'"1": {', b'"1": {\n    "5": 0.5,', 1)
    assert _in_pieces(twice, MIN_PIECE) is None
    for text in (twice, twice.decode()):
        with pytest.raises(DuplicateKeyError):
            quantparams.loads(text)
    assert quantparams.loads(data.decode()) == quantparams.loads(data)
    cut = data[: len(data) // 2]
    with pytest.raises(ParseError) as refused:
        quantparams.loads(cut)
    assert "not valid JSON" in str(refused.value)
