"""Read, check and write the quantization parameter files of LLM serving engines.

Today that is the FP8-E4M3 KV-cache scaling-factor file that vLLM loads with
`--quantization-param-path`.

`FP8_DTYPE` is the one dtype such a file holds; `DEFAULT_RTOL` and
`OUTLIER_FACTOR` are the defaults of `diff_schemas` and `inspect_schema`;
`number_runs` groups ranks or layers into the runs reports print them as.
"""

from typing import TYPE_CHECKING, Any

from ._context import ValidationContext
from ._errors import (
    DuplicateKeyError,
    FileTooLargeError,
    ParseError,
    Problem,
    QuantParamError,
    StructureError,
    ValidationError,
)
from ._format import DEFAULT_RTOL, FP8_DTYPE, OUTLIER_FACTOR
from ._load import DEFAULT_MAX_BYTES, load, loads
from ._maps import LayerScales, RankScales
from ._schema import KVCacheQuantSchema, QuantParamSchema
from ._vllm import kv_cache_scales_loader
from ._write import dump, dumps

if TYPE_CHECKING:
    from ._convert import converter
    from ._diff import Difference, ScaleDifference, diff_schemas
    from ._inspect import Inspection, Outlier, RankStats, inspect_schema
    from ._jsonschema import json_schema
    from ._runs import number_runs
    from .checkpoint import (
        CheckpointInspection,
        CheckpointReport,
        ExtractError,
        Extraction,
        KVCacheScheme,
        LayerReport,
        ScaleEntry,
        extract,
        extract_scales,
        inspect_checkpoint,
    )

# Imported on first use: `loads` needs none of them. The converter would
# import cattrs; the reports are those behind the command line; the checkpoint
# side reads safetensors folders.
_LAZY = {
    "converter": "._convert",
    "Difference": "._diff",
    "ScaleDifference": "._diff",
    "diff_schemas": "._diff",
    "Inspection": "._inspect",
    "Outlier": "._inspect",
    "RankStats": "._inspect",
    "inspect_schema": "._inspect",
    "json_schema": "._jsonschema",
    "number_runs": "._runs",
    "CheckpointInspection": ".checkpoint",
    "CheckpointReport": ".checkpoint",
    "ExtractError": ".checkpoint",
    "Extraction": ".checkpoint",
    "KVCacheScheme": ".checkpoint",
    "LayerReport": ".checkpoint",
    "ScaleEntry": ".checkpoint",
    "extract": ".checkpoint",
    "extract_scales": ".checkpoint",
    "inspect_checkpoint": ".checkpoint",
}

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_RTOL",
    "FP8_DTYPE",
    "OUTLIER_FACTOR",
    "CheckpointInspection",
    "CheckpointReport",
    "Difference",
    "DuplicateKeyError",
    "ExtractError",
    "Extraction",
    "FileTooLargeError",
    "Inspection",
    "KVCacheQuantSchema",
    "KVCacheScheme",
    "LayerReport",
    "LayerScales",
    "Outlier",
    "ParseError",
    "Problem",
    "QuantParamError",
    "QuantParamSchema",
    "RankScales",
    "RankStats",
    "ScaleDifference",
    "ScaleEntry",
    "StructureError",
    "ValidationContext",
    "ValidationError",
    "converter",
    "diff_schemas",
    "dump",
    "dumps",
    "extract",
    "extract_scales",
    "inspect_checkpoint",
    "inspect_schema",
    "json_schema",
    "kv_cache_scales_loader",
    "load",
    "loads",
    "number_runs",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
