"""The same Pydantic v2 models in strict mode.

Strict mode refuses `true` or `"0.5"` for a scale, but from JSON it still
turns every key string (even `"01"`) into an int: see `_pydantic_schema.py`.
"""

from ._common import cold_start_code, lazy_version
from ._pydantic_schema import build

NAME = "pydantic_strict"
CHECKS = True
COLD_START_CODE = cold_start_code(NAME)
__getattr__ = lazy_version(("pydantic", "pydantic-core"))

_CONTENDER = build(strict=True)
load = _CONTENDER.load
revalidate = _CONTENDER.revalidate
dump = _CONTENDER.dump
scales = _CONTENDER.scales
