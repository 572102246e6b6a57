"""Start-up checks that vLLM 0.33.0 and SGLang 0.5.23 share, word for word.

AMD Quark's config (`QuarkConfig.from_config`, then
`QuarkKVCacheMethod.validate_kv_cache_config`, in each engine's
`quantization/quark/quark.py`): the KV-cache config is the `output_tensors`
of the `layer_quant_config` entries that `export.kv_cache_group` names, and
the engines refuse any but a per-tensor FP8-E4M3 one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from .model import Failure

__all__ = ["quark_kv_cache_config"]


def quark_kv_cache_config(quantization: Mapping[str, Any], where: str) -> Failure | None:
    """The failure the engine raises for Quark config `quantization`, or None when it starts."""
    export = quantization.get("export")
    if not isinstance(export, dict):
        message = "The export key should be included in the configurations of Quark quantized model"
        return Failure("ValueError", message, where)
    group = export.get("kv_cache_group")
    if not isinstance(group, list) or not group:
        return None
    patterns = [pattern for pattern in group if isinstance(pattern, str)]
    layers = quantization.get("layer_quant_config")
    if not isinstance(layers, dict):
        # `layer_quant_config.keys()` on what is not a JSON object.
        message = f"'{type(layers).__name__}' object has no attribute 'keys'"
        return Failure("AttributeError", message, where)
    names = list(layers)
    matched = [name for name in names if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)]
    if not matched and not set(patterns) <= set(names):
        message = (
            "The Quark quantized model has the kv_cache_group parameter setting, but no kv_cache "
            "quantization settings were found in the quantization configuration."
        )
        return Failure("ValueError", message, where)
    outputs = [
        layers[name].get("output_tensors") if isinstance(layers[name], dict) else None for name in matched
    ]
    if any(output != outputs[0] for output in outputs):
        message = (
            "The quantization method used for kv_cache should be the same, but the quantization "
            "method for the kv_cache layer in the config is different."
        )
        return Failure("ValueError", message, where)
    config = outputs[0] if outputs else None
    if not isinstance(config, dict):
        return Failure("ValueError", "The kv_cache quantization configuration is empty.", where)
    dtype = config.get("dtype")
    if dtype != "fp8_e4m3":
        message = f"Currently supported kv cache quantization is dtype=fp8_e4m3, however received {dtype}"
        return Failure("NotImplementedError", message, where)
    qscheme = config.get("qscheme")
    if qscheme != "per_tensor":
        message = (
            "Only support per-tensor scaling factor for quark KV cache. "
            f"Expected qscheme: per_tensor, found qscheme: {qscheme}"
        )
        return Failure("NotImplementedError", message, where)
    return None
