"""What a checkpoint's configs say: the model's shape and its KV-cache quantization scheme.

`config.json` gives `model_type`, `num_hidden_layers` and the head counts (in
a multimodal config the ones in `text_config`, or InternVL's `llm_config`, win:
the language model keeps the KV cache). The KV-cache scheme comes from the
first config that declares one:

- compressed-tensors (llm-compressor): `quantization_config.kv_cache_scheme`,
  with `strategy` ("tensor", or "attn_head" for one scale per head) and
  `dynamic`;
- AMD Quark: `quantization_config.export.kv_cache_group` (such as
  `["*k_proj", "*v_proj"]`), each with `output_tensors` in
  `quantization_config.layer_quant_config`;
- NVIDIA ModelOpt: `hf_quant_config.json` `quantization.kv_cache_quant_algo`
  (or the same key in `config.json`'s `quantization_config`);
- fp8: `quantization_config.quant_method` "fp8" with `kv_cache_quant_method`
  or `kv_cache_scheme`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import orjson

from .._errors import Problem, describe
from .naming import MAX_LAYERS

__all__ = ["CONFIG_NAME", "MODELOPT_NAME", "KVCacheScheme", "ModelConfig", "modelopt_fields", "read_configs"]

CONFIG_NAME = "config.json"
MODELOPT_NAME = "hf_quant_config.json"


@attrs.frozen
class KVCacheScheme:
    """The KV-cache quantization a config declares."""

    # "compressed-tensors", "quark", "modelopt" or "fp8" (name_table.CONFIG_FAMILIES).
    config: str
    # Where it is declared: `config.json quantization_config.kv_cache_scheme`.
    source: str
    # "tensor" (one scale per layer) or "attn_head" (one per head).
    strategy: str
    # Scales computed while serving, so none need be stored.
    dynamic: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "source": self.source,
            "strategy": self.strategy,
            "dynamic": self.dynamic,
        }


@attrs.frozen
class ModelConfig:
    model_type: str | None = None
    num_hidden_layers: int | None = None
    # Where num_hidden_layers came from, for messages: `config.json num_hidden_layers`.
    layers_source: str = ""
    num_attention_heads: int | None = None
    num_key_value_heads: int | None = None
    # The quantization config family even when it declares no KV-cache
    # scheme: it decides which names vLLM maps ("" for none).
    family: str = ""
    kv_cache_scheme: KVCacheScheme | None = None
    # The quantization config the engines apply, as the file holds it.
    quantization: Mapping[str, Any] | None = None
    # config.json's first `architectures` entry.
    architecture: str | None = None
    # The language model's config: `text_config` (`llm_config`) over the top level.
    text: Mapping[str, Any] = attrs.Factory(dict)
    # False when a config file is there but cannot be read: what an engine
    # makes of the checkpoint is then unknown.
    readable: bool = True
    # Whether the folder has a config.json at all.
    found: bool = True
    # The language model's own first `architectures` entry, where its config names one.
    text_architecture: str | None = None


def _load(folder: Path, name: str, problems: list[Problem]) -> dict[str, Any] | None:
    try:
        data = (folder / name).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        problems.append(Problem(name, f"cannot read: {error.strerror or error}"))
        return None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        problems.append(Problem(name, f"not valid JSON: {error}"))
        return None
    if not isinstance(document, dict):
        problems.append(Problem(name, f"expected a JSON object, got {describe(document)}"))
        return None
    return document


def read_configs(folder: Path, problems: list[Problem]) -> ModelConfig:
    """The folder's configs; what is wrong with them goes to `problems`."""
    before = len(problems)
    config = _load(folder, CONFIG_NAME, problems) or {}
    modelopt = _load(folder, MODELOPT_NAME, problems)
    readable = len(problems) == before
    text_key = next((key for key in _TEXT_CONFIGS if isinstance(config.get(key), dict)), _TEXT_CONFIGS[0])
    text = config.get(text_key)

    def setting(key: str) -> tuple[str, object]:
        if isinstance(text, dict) and key in text:
            return f"{text_key}.{key}", text[key]
        return key, config.get(key)

    counts: dict[str, int | None] = {}
    for key in ("num_hidden_layers", "num_attention_heads", "num_key_value_heads"):
        where, value = setting(key)
        if value is not None and not (type(value) is int and value >= 1):
            problems.append(Problem(CONFIG_NAME, f"{where} must be an integer >= 1, got {describe(value)}"))
            value = None
        elif key == "num_hidden_layers" and type(value) is int and value > MAX_LAYERS:
            message = f"{where} is {value}, more layers than any model has (at most {MAX_LAYERS}): correct it"
            problems.append(Problem(CONFIG_NAME, message))
            value = None
        counts[key] = value if type(value) is int else None
    layers_key, _ = setting("num_hidden_layers")
    type_key, model_type = setting("model_type")
    if model_type is not None and not isinstance(model_type, str):
        problems.append(Problem(CONFIG_NAME, f"{type_key} must be a string, got {describe(model_type)}"))
        model_type = None

    family, scheme, quantization = "", None, _applying(config, config.get("text_config"))
    if quantization is not None:
        family, scheme = _scheme(quantization)
        declared = quantization.get("kv_cache_scheme")
        if declared is not None and not isinstance(declared, dict):
            message = (
                f"quantization_config.kv_cache_scheme must be an object (such as "
                f'{{"num_bits": 8, "type": "float", "strategy": "tensor"}}), got {describe(declared)}'
            )
            problems.append(Problem(CONFIG_NAME, message))
    elif modelopt is not None:
        quantization = modelopt
        family, scheme = _modelopt(modelopt, f"{MODELOPT_NAME} quantization")
    architecture = _first_architecture(config)
    return ModelConfig(
        model_type,
        counts["num_hidden_layers"],
        f"{CONFIG_NAME} {layers_key}",
        counts["num_attention_heads"],
        counts["num_key_value_heads"] or counts["num_attention_heads"],
        family,
        scheme,
        quantization,
        architecture,
        {**config, **text} if isinstance(text, dict) else config,
        readable,
        (folder / CONFIG_NAME).exists(),
        _first_architecture(text) if isinstance(text, dict) else None,
    )


# Where a multimodal config keeps its language model's: InternVL's is `llm_config`.
_TEXT_CONFIGS = ("text_config", "llm_config")


def _first_architecture(config: Mapping[str, Any]) -> str | None:
    architectures = config.get("architectures")
    first = architectures[0] if isinstance(architectures, list) and architectures else None
    return first if isinstance(first, str) else None


def _applying(config: dict[str, Any], text: object) -> dict[str, Any] | None:
    """The quantization config vLLM applies: config.json's own (its text config's, or
    `compression_config`), before any `hf_quant_config.json` (vLLM's `get_quant_config`)."""
    for found in (
        config.get("quantization_config"),
        text.get("quantization_config") if isinstance(text, dict) else None,
        config.get("compression_config"),
    ):
        if isinstance(found, dict):
            return found
    return None


def _scheme(quantization: dict[str, Any]) -> tuple[str, KVCacheScheme | None]:
    method = str(quantization.get("quant_method", "")).replace("_", "-")
    where = f"{CONFIG_NAME} quantization_config"
    if method == "compressed-tensors":
        kv = quantization.get("kv_cache_scheme")
        if not isinstance(kv, dict):
            return method, None
        strategy = "attn_head" if kv.get("strategy") == "attn_head" else "tensor"
        return method, KVCacheScheme(method, f"{where}.kv_cache_scheme", strategy, kv.get("dynamic") is True)
    if method == "quark":
        return method, _quark(quantization, where)
    if method == "modelopt":
        return _modelopt(quantization, where)
    if method == "fp8":
        declared = quantization.get("kv_cache_quant_method") or quantization.get("kv_cache_scheme")
        if declared is None:
            return method, None
        key = "kv_cache_quant_method" if "kv_cache_quant_method" in quantization else "kv_cache_scheme"
        dynamic = declared == "dynamic" or (isinstance(declared, dict) and declared.get("dynamic") is True)
        return method, KVCacheScheme(method, f"{where}.{key}", "tensor", dynamic)
    return "", None


def _quark(quantization: dict[str, Any], where: str) -> KVCacheScheme | None:
    export = quantization.get("export")
    group = export.get("kv_cache_group") if isinstance(export, dict) else None
    if not isinstance(group, list) or not group:
        return None
    layers = quantization.get("layer_quant_config")
    specs = [layers.get(name) for name in group if isinstance(name, str)] if isinstance(layers, dict) else []
    outputs: list[dict[str, Any]] = [
        spec["output_tensors"]
        for spec in specs
        if isinstance(spec, dict) and isinstance(spec.get("output_tensors"), dict)
    ]
    if not outputs:
        return None
    dynamic = all(output.get("is_dynamic") is True for output in outputs)
    per_tensor = all(output.get("qscheme", "per_tensor") == "per_tensor" for output in outputs)
    return KVCacheScheme(
        "quark", f"{where}.export.kv_cache_group", "tensor" if per_tensor else "attn_head", dynamic
    )


def modelopt_fields(quantization: Mapping[str, Any]) -> Mapping[str, Any]:
    """ModelOpt's config fields: hf_quant_config.json's nested `quantization` object, or the
    config itself in config.json's flat form."""
    nested = quantization.get("quantization")
    return nested if isinstance(nested, dict) else quantization


def _modelopt(quantization: object, where: str) -> tuple[str, KVCacheScheme | None]:
    """ModelOpt's family and KV-cache scheme, in hf_quant_config.json's form
    (`kv_cache_quant_algo`) or config.json's flat one (`kv_cache_scheme`)."""
    if not isinstance(quantization, dict):
        return "modelopt", None
    fields = modelopt_fields(quantization)
    algo = str(fields.get("quant_algo", "")).upper()
    family = "modelopt-mixed" if algo == "MIXED_PRECISION" else "modelopt"
    if isinstance(fields.get("kv_cache_quant_algo"), str):
        return family, KVCacheScheme("modelopt", f"{where}.kv_cache_quant_algo", "tensor", False)
    kv = fields.get("kv_cache_scheme")
    if isinstance(kv, dict) and kv.get("type") == "float" and kv.get("num_bits") == 8:
        return family, KVCacheScheme(
            "modelopt", f"{where}.kv_cache_scheme", "tensor", kv.get("dynamic") is True
        )
    return family, None
