"""A JSON Schema (draft 2020-12) of the file, for editors and other languages' validators."""

from __future__ import annotations

from typing import Any

from ._format import FP8_DTYPE, KEY_PATTERN

__all__ = ["DRAFT", "KEY_PATTERN", "json_schema"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict[str, Any]:
    """The schema as a fresh JSON-ready dict.

    It expresses every check `loads(data, context=None)` makes on a parsed
    document except one: that a number fits a double (1e400 is valid JSON).
    Checks that need an engine context, and whether the text is JSON at all,
    are beyond any schema.
    """
    index = {
        "type": "string",
        "pattern": KEY_PATTERN,
        "description": "A non-negative integer written without sign, spaces or leading zeros.",
    }
    scale = {
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "A layer's per-tensor KV-cache scale: a finite number > 0.",
    }
    layer_scales = {
        "type": "object",
        "description": "Layer index to that layer's scale.",
        "propertyNames": {"$ref": "#/$defs/index"},
        "additionalProperties": {"$ref": "#/$defs/scale"},
    }
    return {
        "$schema": DRAFT,
        "title": "Quantization parameter file",
        "description": "FP8-E4M3 KV-cache scaling factors per tensor-parallel rank and layer, "
        "as vLLM loads them with --quantization-param-path. Unknown keys are ignored.",
        "type": "object",
        "required": ["model_type", "kv_cache"],
        "properties": {
            "model_type": {
                "type": ["string", "null"],
                "description": "The model's type, e.g. llama; null when unknown.",
            },
            "kv_cache": {
                "type": "object",
                "required": ["dtype", "scaling_factor"],
                "properties": {
                    "dtype": {"const": FP8_DTYPE},
                    "scaling_factor": {
                        "type": "object",
                        "description": "Tensor-parallel rank to that rank's layer scales.",
                        "propertyNames": {"$ref": "#/$defs/index"},
                        "additionalProperties": {"$ref": "#/$defs/layer_scales"},
                    },
                },
            },
        },
        "$defs": {"index": index, "scale": scale, "layer_scales": layer_scales},
    }
