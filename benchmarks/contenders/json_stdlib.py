"""The standard library's `json.loads` alone: what a loader without dependencies starts from.

No types, no checks, string keys. `revalidate` does nothing; `dump` is
`json.dumps` of the parsed dict, encoded to UTF-8 bytes.
"""

from __future__ import annotations

import json
from typing import Any

from ._common import cold_start_code, python_version, scales_of_parsed_json

NAME = "json_stdlib"
CHECKS = False
COLD_START_CODE = cold_start_code(NAME)
VERSION = f"json (standard library of Python {python_version()})"


def load(data: bytes, ctx: dict[str, Any]) -> Any:
    return json.loads(data)


def revalidate(obj: Any, ctx: dict[str, Any]) -> None:
    """Nothing to do: the floor checks nothing."""


def dump(obj: Any) -> bytes:
    return json.dumps(obj).encode()


scales = scales_of_parsed_json
