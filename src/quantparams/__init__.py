"""Read, check and write the quantization parameter files of LLM serving engines.

Today that is the FP8-E4M3 KV-cache scaling-factor file that vLLM loads with
`--quantization-param-path`.
"""

from ._context import ValidationContext
from ._convert import converter
from ._errors import (
    DuplicateKeyError,
    FileTooLargeError,
    ParseError,
    Problem,
    QuantParamError,
    StructureError,
    ValidationError,
)
from ._io import DEFAULT_MAX_BYTES, dump, dumps, load, loads
from ._maps import LayerScales, RankScales
from ._schema import KVCacheQuantSchema, QuantParamSchema
from ._vllm import kv_cache_scales_loader

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DuplicateKeyError",
    "FileTooLargeError",
    "KVCacheQuantSchema",
    "LayerScales",
    "ParseError",
    "Problem",
    "QuantParamError",
    "QuantParamSchema",
    "RankScales",
    "StructureError",
    "ValidationContext",
    "ValidationError",
    "converter",
    "dump",
    "dumps",
    "kv_cache_scales_loader",
    "load",
    "loads",
]

__version__ = "0.1.0"
