"""The floor: `orjson.loads` alone. No types, no checks, string keys.

Nothing a real loader can do goes faster than parsing with orjson, which
quantparams itself uses. `revalidate` does nothing (there is nothing to check
with); `dump` is `orjson.dumps` of the parsed dict.
"""

from __future__ import annotations

from typing import Any

import orjson

from ._common import cold_start_code, lazy_version, scales_of_parsed_json

NAME = "orjson_floor"
CHECKS = False
COLD_START_CODE = cold_start_code(NAME)
__getattr__ = lazy_version(("orjson",))


def load(data: bytes, ctx: dict[str, Any]) -> Any:
    return orjson.loads(data)


def revalidate(obj: Any, ctx: dict[str, Any]) -> None:
    """Nothing to do: the floor checks nothing."""


def dump(obj: Any) -> bytes:
    return orjson.dumps(obj)


scales = scales_of_parsed_json
