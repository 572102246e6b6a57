"""An independent copy of what vLLM's and SGLang's loaders make of a checkpoint tensor name.

Written from the engines' behaviour, as the oracle for the naming table:
vLLM 0.33.0 runs the cache-scale mapper of the model's quantization config
(every base regular expression that matches, in order, each on the previous
result; then, for the fp8 and Quark configs, the `output_scale` suffixes);
the result is loaded when it is one of the attention layer's scale
parameters. SGLang's `maybe_remap_kv_scale_name` rewrites a name ending in
`.kv_scale`, `.k_scale` or `.v_scale` once, and loads it when the model has
the result.
"""

from __future__ import annotations

import re

__all__ = ["sglang_reads", "vllm_attention_parameter"]

_BASE = (
    (r"\.kv_scale$", ".attn.k_scale"),
    (r"\.self_attn\.[kv]_proj\.([kv])_scale$", r".self_attn.attn.\1_scale"),
    (r"\.self_attn\.qk(?:qk)?v_proj\.([kv])_scale$", r".self_attn.attn.\1_scale"),
    (r"\.mixer\.[kv]_proj\.([kv])_scale$", r".mixer.attn.\1_scale"),
    (r"\.self_attn\.q\.scale$", ".self_attn.attn.q_scale"),
    (r"\.self_attn\.([kv])_cache\.scale$", r".self_attn.attn.\1_scale"),
    (r"(?<!\.attn)\.([qkv])_scale$", r".attn.\1_scale"),
    (r"(?<!\.attn)\.([qkv])_zero_point$", r".attn.\1_zero_point"),
)
_OUTPUT_SCALES = {
    ".k_proj.output_scale": ".attn.k_scale",
    ".v_proj.output_scale": ".attn.v_scale",
    ".q_proj.output_scale": ".attn.q_scale",
    ".self_attn.prob_output_scale": ".self_attn.attn.prob_scale",
}
_SUFFIXES = {"fp8": _OUTPUT_SCALES, "quark": _OUTPUT_SCALES}
_ATTENTION_SCALE = ("attn.q_scale", "attn.k_scale", "attn.v_scale", "attn.prob_scale")


def vllm_attention_parameter(name: str, config: str) -> str | None:
    for pattern, replacement in _BASE:
        if re.search(pattern, name):
            name = re.sub(pattern, replacement, name)
    for suffix, new in _SUFFIXES.get(config, {}).items():
        if name.endswith(suffix):
            name = new.join(name.rsplit(suffix, 1))
    return name if name.rpartition(".")[0].endswith(".attn") and name.endswith(_ATTENTION_SCALE) else None


def _sglang_has(parameter: str) -> bool:
    # A Llama-family model's attention scale parameters.
    return re.search(r"layers\.[0-9]+\.self_attn\.attn\.[kv]_scale$", parameter) is not None


def sglang_reads(name: str) -> bool:
    if name.endswith(".kv_scale"):
        return _sglang_has(name.replace(".kv_scale", ".attn.k_scale"))
    for scale in (".k_scale", ".v_scale"):
        if name.endswith(scale):
            modelopt = f".self_attn.{scale[1]}_proj{scale}"
            if modelopt in name:
                return _sglang_has(name.replace(modelopt, f".self_attn.attn{scale}"))
            return _sglang_has(name.replace(scale, f".attn{scale}"))
    return False
