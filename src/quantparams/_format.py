"""The file format's constants: what a vLLM KV-cache scaling-factor file holds."""

from __future__ import annotations

__all__ = ["FP8_DTYPE", "KEY_PATTERN", "is_canonical_key_text"]

# The only KV-cache dtype these scales are meant for.
FP8_DTYPE = "float8_e4m3fn"

# A rank or layer key: a non-negative decimal integer, no sign, spaces or
# leading zeros. ECMA 262 semantics, as JSON Schema specifies: `$` matches
# only at the very end. (Python's `re`, used by some validators, also lets it
# match before a final newline, so such a validator lets "1\n" through where
# this library does not.)
KEY_PATTERN = "^(0|[1-9][0-9]*)$"


def is_canonical_key_text(key: str) -> bool:
    """True when `key` matches `KEY_PATTERN`.

    ASCII digits with no leading zero: isdecimal() alone lets through other
    scripts' digits, which int() would also accept.
    """
    return key.isascii() and key.isdecimal() and (key == "0" or key[0] != "0")
