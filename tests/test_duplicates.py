"""Keys named twice in one object: refused with their paths, whatever the spelling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import quantparams
from quantparams import DuplicateKeyError, ParseError
from quantparams._duplicates import duplicate_problems
from quantparams._fast import load_fast
from strategies import json_values, sound_documents

_TWICE = "this key appears 2 times in its object; JSON readers disagree on which value counts, so name each key once"


def _doc(scaling: str = '{"0":{"0":0.5,"1":0.25}}', extra: str = "", kv_extra: str = "") -> str:
    return (
        f'{{"model_type":"llama",{extra}"kv_cache":{{"dtype":"float8_e4m3fn",{kv_extra}'
        f'"scaling_factor":{scaling}}}}}'
    )


def _refused(data: str | bytes) -> list[str]:
    with pytest.raises(DuplicateKeyError) as caught:
        quantparams.loads(data)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (_doc('{"0":{"0":0.5,"1":0.25,"0":0.75}}'), [f'$.kv_cache.scaling_factor["0"]["0"]: {_TWICE}']),
        (_doc('{"0":{"0":0.5},"0":{"0":0.5}}'), [f'$.kv_cache.scaling_factor["0"]: {_TWICE}']),
        (_doc(extra='"model_type":"mistral",'), [f"$.model_type: {_TWICE}"]),
        (_doc(kv_extra='"dtype":"int8",'), [f"$.kv_cache.dtype: {_TWICE}"]),
        # In an extra key's value, nested in arrays: still the file's content.
        (_doc(extra='"notes":[1,{"a b":1,"a b":2}],'), [f'$.notes[1]["a b"]: {_TWICE}']),
        # Every duplicate, each once, in document order, with its count.
        (
            _doc('{"0":{"0":0.5,"0":0.5,"0":0.5},"1":{"3":0.5,"3":1.0}}', extra='"x":1,"x":2,'),
            [
                f"$.x: {_TWICE}",
                f'$.kv_cache.scaling_factor["0"]["0"]: {_TWICE.replace("2 times", "3 times")}',
                f'$.kv_cache.scaling_factor["1"]["3"]: {_TWICE}',
            ],
        ),
    ],
)
def test_duplicates_are_refused_with_their_paths(document: str, expected: list[str]) -> None:
    assert _refused(document) == expected
    assert _refused(document.encode()) == expected


def test_duplicate_is_a_parse_error_even_without_validation(tmp_path: Path) -> None:
    document = _doc('{"0":{"0":0.5,"0":-1}}')
    with pytest.raises(ParseError):
        quantparams.loads(document, validate=False)
    path = tmp_path / "scales.json"
    path.write_text(document)
    with pytest.raises(DuplicateKeyError) as caught:
        quantparams.load(path)
    assert caught.value.source == str(path)


def test_duplicate_that_breaks_the_shape_is_named_first() -> None:
    # The last "scaling_factor" is what orjson keeps; the first one was the map.
    document = _doc('{"0":{"0":0.5}},"scaling_factor":5')
    assert _refused(document) == [f"$.kv_cache.scaling_factor: {_TWICE}"]


def test_escaped_spellings_of_keys_and_colons() -> None:
    # "\u0030" is "0": the same key spelled differently is still a duplicate.
    assert _refused(_doc('{"0":{"0":0.5,"\\u0030":0.5}}')) == [
        f'$.kv_cache.scaling_factor["0"]["0"]: {_TWICE}'
    ]
    # Escaped colons and backslashes in text, no duplicate: loads.
    for text in ["a\\u003ab", "a\\u003Ab", "\\\\u003a", "\\\\:\\u003a", "x\\"]:
        extra = f'"note":"{text}","{text}":1,'
        if text == "x\\":
            extra = '"note":"x\\\\",'
        schema = quantparams.loads(_doc(extra=extra))
        assert schema.model_type == "llama"


def test_all_input_types() -> None:
    document = _doc('{"0":{"0":0.5,"0":0.5}}')
    expected = [f'$.kv_cache.scaling_factor["0"]["0"]: {_TWICE}']
    for data in (document, document.encode(), bytearray(document.encode()), memoryview(document.encode())):
        assert _refused(data) == expected  # type: ignore[arg-type]
        sound = _doc()
        quantparams.loads(type(data)(sound if isinstance(data, str) else sound.encode()))  # type: ignore[arg-type]


def test_deep_nesting_in_an_extra_key() -> None:
    depth = 1000  # within orjson's limit of 1024
    nest = '{"a":' * depth + "1" + "}" * depth
    assert quantparams.loads(_doc(extra=f'"deep":{nest},')).model_type == "llama"
    # With a duplicate somewhere, the precise scan must walk it too.
    twice = '{"a":' * depth + '1,"a":2' + "}" * depth
    # The path stops 16 levels down: a message stays short at any depth.
    assert _refused(_doc(extra=f'"deep":{twice},')) == [
        "$.deep"
        + '["a"]' * 15
        + ': key "a" appears 2 times in an object nested 984 levels below this value; '
        "JSON readers disagree on which value counts, so name each key once"
    ]
    shallow = '{"a":' * 14 + '1,"a":2' + "}" * 14
    assert _refused(_doc(extra=f'"deep":{shallow},')) == ["$.deep" + '["a"]' * 14 + f": {_TWICE}"]


def test_large_sound_document_passes_the_fast_check() -> None:
    scaling = {str(r): {str(layer): 0.01 + layer / 1e4 for layer in range(1024)} for r in range(8)}
    document = {"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": scaling}}
    for data in (orjson.dumps(document), json.dumps(document, indent=2).encode()):
        assert load_fast(data, None, True) is not None


# --- Properties: the fast check never passes a duplicate, the precise scan never invents one ---


def _compact(value: Any) -> bytes:
    # json, not orjson: sound documents may hold ints beyond 64 bits.
    return json.dumps(value, separators=(",", ":")).encode()


def _spellings(document: dict[str, Any]) -> st.SearchStrategy[bytes]:
    return st.sampled_from(
        [
            _compact(document),
            json.dumps(document).encode(),
            json.dumps(document, indent=1, ensure_ascii=True).encode(),
            # Every colon inside text escaped: the bytes hold fewer colons than the strings.
            _compact(document).replace(b"::", b"\\u003a\\u003A"),
        ]
    )


@settings(max_examples=200)
@given(st.data())
def test_sound_documents_have_no_duplicates(data: st.DataObject) -> None:
    sound = data.draw(sound_documents(tp_sizes=st.integers(1, 3), layer_counts=st.integers(1, 8)))
    document = sound.document
    document["kv_cache"]["note:"] = data.draw(json_values())
    raw = data.draw(_spellings(document))
    assert duplicate_problems(raw) == []
    assert quantparams.loads(raw) == quantparams.loads(_compact(document))


@st.composite
def _with_a_duplicate(draw: st.DrawFn) -> tuple[bytes, str]:
    sound = draw(sound_documents(tp_sizes=st.integers(1, 3), layer_counts=st.integers(1, 8)))
    raw = _compact(sound.document)
    # Repeat one member (key and value) of some object: find a key in the text.
    sf = sound.document["kv_cache"]["scaling_factor"]
    rank = draw(st.sampled_from(sorted(sf)))
    layer = draw(st.sampled_from(sorted(sf[rank])))
    value = draw(st.one_of(json_values(), st.just(sf[rank][layer])))
    member = b'"' + layer.encode() + b'":' + _compact(value)
    rank_at = raw.index(b'"' + rank.encode() + b'":{', raw.index(b'"scaling_factor"'))
    opening = raw.index(b"{", rank_at) + 1
    first = draw(st.booleans())
    raw = raw[:opening] + member + b"," + raw[opening:] if first else raw[:opening] + raw[opening:]
    if not first:
        closing = raw.index(b"}", opening)
        raw = raw[:closing] + b"," + member + raw[closing:]
    return raw, f'$.kv_cache.scaling_factor["{rank}"]["{layer}"]'


@settings(max_examples=200)
@given(_with_a_duplicate())
def test_every_duplicate_is_caught(case: tuple[bytes, str]) -> None:
    raw, path = case
    assert _refused(raw) == [f"{path}: {_TWICE}"]


def test_long_key_is_quoted_short() -> None:
    key = "x" * 10_000
    problems = _refused(_doc(extra=f'"{key}":1,"{key}":2,'))
    assert problems == [f'$["{"x" * 36}...]: {_TWICE}']
