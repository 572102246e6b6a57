"""The library under test: `quantparams.loads`, `validate` and `dumps`.

The context is passed as the same plain dict the other contenders get (the
library accepts vLLM's context dict as it is). It checks more than vLLM does:
every scale finite and > 0, every key a canonical integer, every problem
collected. A loaded document is immutable, so re-validating it reuses facts
learnt on load (such as "every scale is sound"); that is the library's design,
not a benchmark shortcut.
"""

from __future__ import annotations

from typing import Any

import quantparams

from ._common import cold_start_code, lazy_version

NAME = "quantparams"
CHECKS = True
COLD_START_CODE = cold_start_code(NAME)
__getattr__ = lazy_version(("quantparams", "attrs", "cattrs", "orjson"))


def load(data: bytes, ctx: dict[str, Any]) -> quantparams.QuantParamSchema:
    return quantparams.loads(data, ctx)


def revalidate(obj: quantparams.QuantParamSchema, ctx: dict[str, Any]) -> None:
    obj.validate(ctx)


def dump(obj: quantparams.QuantParamSchema) -> bytes:
    return quantparams.dumps(obj)


def scales(obj: quantparams.QuantParamSchema) -> dict[int, dict[int, float]]:
    return {rank: dict(layers.items()) for rank, layers in obj.kv_cache.scaling_factor.items()}
