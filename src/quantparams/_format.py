"""The file format's constants: what a vLLM KV-cache scaling-factor file holds, and the reports' defaults.

The defaults live here, beside the format, so that the command line's help
texts can name them without importing the report modules.
"""

from __future__ import annotations

__all__ = ["DEFAULT_RTOL", "FP8_DTYPE", "KEY_PATTERN", "OUTLIER_FACTOR", "is_canonical_key_text"]

# The only KV-cache dtype these scales are meant for.
FP8_DTYPE = "float8_e4m3fn"

# A rank or layer key: a non-negative decimal integer, no sign, spaces or
# leading zeros. ECMA 262 semantics, as JSON Schema specifies: `$` matches
# only at the very end. (Python's `re`, used by some validators, also lets it
# match before a final newline, so such a validator lets "1\n" through where
# this library does not.)
KEY_PATTERN = "^(0|[1-9][0-9]*)$"

# A layer whose scale is this many times its rank's median, or that fraction
# of it, is worth a look: calibration usually keeps a model's layers within
# one order of magnitude.
OUTLIER_FACTOR = 4.0

# Tolerates a trip through float32 (about 6e-8) and the last digit of a
# decimal printout with 7 significant digits, but not a recalibration.
DEFAULT_RTOL = 1e-6


def is_canonical_key_text(key: str) -> bool:
    """True when `key` matches `KEY_PATTERN`.

    ASCII digits with no leading zero: isdecimal() alone lets through other
    scripts' digits, which int() would also accept.
    """
    return key.isascii() and key.isdecimal() and (key == "0" or key[0] != "0")
