"""vLLM's own choice: Pydantic v2 models in lax mode, read with `model_validate_json`.

See `_pydantic_schema.py` for the models and for how re-validation is done.
"""

from ._common import cold_start_code, lazy_version
from ._pydantic_schema import build

NAME = "pydantic_lax"
CHECKS = True
COLD_START_CODE = cold_start_code(NAME)
__getattr__ = lazy_version(("pydantic", "pydantic-core"))

_CONTENDER = build(strict=False)
load = _CONTENDER.load
revalidate = _CONTENDER.revalidate
dump = _CONTENDER.dump
scales = _CONTENDER.scales
