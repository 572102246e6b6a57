"""What the checkpoint checks say of layers and their scales, each in one wording.

A problem of a file's bytes (its header, a tensor's dtype, shape or value)
is worded where the bytes are read (`header`, `scan`); everything said of a
checkpoint's layers, of what an engine makes of them, and of the file
`extract` writes is worded here, so that one situation reads the same in
every command.
"""

from __future__ import annotations

from collections.abc import Sequence

from .folder import Layout
from .scan import Scan
from .scheme import MODELOPT_NAME, ModelConfig
from .text import layers_text, quote_list

__all__ = [
    "EXTRACT_NEEDS_CONFIG",
    "NO_CONFIG",
    "NO_SCHEME",
    "UNREAD_NAME",
    "all_ones",
    "duplicate",
    "fails_with_fp8",
    "fp8_only_when_asked",
    "no_method",
    "no_scale_for",
    "none_found",
    "partly_default",
    "past_count",
    "requires",
    "runs_at_default",
    "towers",
]

UNREAD_NAME = "named like a KV-cache scale, but no engine reads it"

_SCHEME_PLACES = (
    "config.json quantization_config.kv_cache_scheme, export.kv_cache_group or kv_cache_quant_method, "
    f"or {MODELOPT_NAME} kv_cache_quant_algo"
)


NO_CONFIG = (
    "no config.json: the layer count, the attention layers and the quantization config are "
    "unknown, so a layer without scales cannot be told, and the engines are read as if the "
    "model had no quantization config"
)

EXTRACT_NEEDS_CONFIG = (
    "no config.json: the values vLLM uses depend on the quantization config and the architecture it "
    "declares; put the model's config.json beside the safetensors files"
)

NO_SCHEME = f"the checkpoint has KV-cache scales, but no config declares a KV-cache scheme ({_SCHEME_PLACES})"


def none_found(found: Scan, layout: Layout, config: ModelConfig) -> str:
    """Why no scale was found: what was looked at, under which config, what came close."""
    what = {
        "index": "its weight_map",
        "files": "the file" if len(layout.files) == 1 else f"the {len(layout.files)} files",
    }
    message = (
        f"found no KV-cache scale tensors among the {found.tensor_count} "
        f"tensor{'' if found.tensor_count == 1 else 's'} of {what.get(layout.kind, 'the files')}"
    )
    if found.unknown:
        message += f"; named like scales, but no engine reads them: {quote_list(found.unknown)}"
    scheme = config.kv_cache_scheme
    if scheme is None:
        message += "; no config declares a KV-cache scheme"
    else:
        kind = "dynamic" if scheme.dynamic else "static"
        message += f"; {scheme.source} declares {kind} KV-cache quantization"
    message += (
        ": calibrate the KV cache with a producer (llm-compressor, NVIDIA ModelOpt, AMD Quark), "
        "or serve without static scales (the engines use 1.0)"
    )
    return message


def duplicate(layer: int, first_kind: str, first_where: str) -> str:
    return (
        f"duplicate KV-cache scale for layer {layer}: a {first_kind} scale was already found in {first_where}"
    )


def no_scale_for(layers: list[int], count: int, basis: str) -> str:
    """A scaling-factor file needs a scale for every layer, and `layers` have none (`basis` says why they count)."""
    return f"no KV-cache scale for {layers_text(layers)} (layers 0..{count - 1} each need one: {basis})"


def runs_at_default(title: str, layers: list[int], lacking: str, why: str) -> str:
    """An engine runs `layers` with `lacking` ("k", "v" or "k and v") at its default 1.0, and why."""
    return f"{title} runs {layers_text(layers)} with {lacking} at 1.0: {why}"


def partly_default(title: str, layers: list[int], kind: str) -> str:
    return f"{title} runs {layers_text(layers)} with {kind} at 1.0: no {kind} scale for them"


def no_method(title: str, ignored: int, example: str) -> str:
    return (
        f"{title} gives these attention layers no KV-cache method under this config, so it "
        f"reads none of the checkpoint's {ignored} scale tensors (such as {example}): "
        "every layer runs with q, k, v and prob at 1.0"
    )


def fails_with_fp8(title: str, failure: str) -> str:
    """An engine starts only because its default cache keeps the model's dtype; `failure` is
    what it raises when served with an FP8 cache, as "Error in file: message"."""
    return (
        f"{title}: starts with the default --kv-cache-dtype auto, scales unused; "
        f"with --kv-cache-dtype fp8 it will not start: {failure}"
    )


def requires(title: str, what: str) -> str:
    """What an engine's KV-cache method asks of the GPU; `what` follows the title as a verb phrase."""
    return f"{title} {what}"


def transformers_backend(title: str, architecture: str, backend: str) -> str:
    return (
        f"{title} has no model of {architecture}: it serves it with its Transformers backend "
        f"({backend}), where transformers has the model, and is judged so"
    )


def fp8_only_when_asked(title: str) -> str:
    return (
        f"{title} keeps the KV cache in the model's dtype under this config unless served with "
        "--kv-cache-dtype fp8: these scales are used only then"
    )


def towers(count: int, stacks: Sequence[str]) -> str:
    return (
        f"{count} scale tensors of {quote_list(list(stacks))}, a vision, audio or MTP tower: "
        "reported apart, not checked as the language model's layers"
    )


def all_ones(config: ModelConfig) -> str:
    """Every scale is exactly 1.0: what that means for the producer the config names."""
    if config.family.startswith("modelopt"):
        return (
            "every KV-cache scale is exactly 1.0: NVIDIA ModelOpt clamps FP8 KV-cache scales to at "
            "least 1.0, so this is what a calibration whose amax stayed below 448 exports"
        )
    return "every KV-cache scale is exactly 1.0: an uncalibrated export?"


def past_count(layers: list[int], config: ModelConfig, count: int) -> str:
    return (
        f"{layers_text(layers)} past {config.layers_source} = {count} "
        "(MTP or draft layers?): reported, not checked as model layers"
    )
