"""Numbers as a safetensors dtype holds them, written as the shortest decimal that reads back to them."""

from __future__ import annotations

import math
import struct

__all__ = ["float32", "shortest"]


def _bf16(value: float) -> float:
    """`value` rounded to bfloat16 (to nearest, ties to even), as PyTorch stores it."""
    bits = struct.unpack("<I", struct.pack("<f", value))[0]
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    result: float = struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]
    return result


def _stored(value: float, dtype: str) -> float:
    try:
        if dtype == "F32":
            return float(struct.unpack("<f", struct.pack("<f", value))[0])
        if dtype == "F16":
            return float(struct.unpack("<e", struct.pack("<e", value))[0])
    except (OverflowError, struct.error):
        return math.inf if value > 0 else -math.inf
    if dtype == "BF16":
        return _bf16(value)
    return value


def shortest(value: float, dtype: str) -> float:
    """The shortest decimal that `dtype` ("F16", "BF16", "F32", "F64") stores as `value`."""
    if not math.isfinite(value):
        return value
    stored = _stored(value, dtype)
    for digits in range(1, 18):
        candidate = float(f"{stored:.{digits}g}")
        if _stored(candidate, dtype) == stored:
            return candidate
    return stored


def float32(value: float) -> float:
    """`value` as an engine holds it (a float32), as the shortest decimal that round-trips."""
    return shortest(value, "F32")
