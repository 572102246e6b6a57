"""Tensor names and what the engines make of them, recorded by following their code paths by hand.

Each row: a checkpoint tensor name (`N` stands for the layer), the quantization
config family, the attention parameter vLLM 0.33.0 loads it into (None: none),
and whether SGLang 0.5.23's Llama loader loads it.

vLLM: `QuantizationConfig.get_cache_scale_mapper()` (`layers/quantization/base_config.py`)
applies every regular expression that matches, in order, each to the previous
result (the default `(?<!\\.attn)\\.([qkv])_scale$` leaves a name already under
`.attn`); `Fp8Config` (`fp8.py`) and `QuarkConfig` (`quark/quark.py`) then map the
`output_scale` suffixes. The result is a parameter only where an attention
module holds `Attention` as `.attn` (`self_attn.attn`, NemotronH's `mixer.attn`).

SGLang: `LlamaForCausalLM._legacy_load_weights` (`models/llama.py`) sends every
name holding "scale" through `maybe_remap_kv_scale_name`
(`model_loader/weight_utils.py`): `.kv_scale` -> `.attn.k_scale`; the ModelOpt
`self_attn.k_proj.k_scale` -> `self_attn.attn.k_scale`; any other `.k_scale` /
`.v_scale` gets `.attn` inserted before it; the Quark `output_scale` suffixes
are renamed unchecked. The loop then loads the name if the model has it: a
Llama layer holds `self_attn.attn.k_scale` and `v_scale`, no q or prob.
"""

from __future__ import annotations

__all__ = ["RECORDED", "recorded"]

RECORDED: tuple[tuple[str, str, str | None, bool], ...] = (
    # The fused scale becomes k under every config.
    ("model.layers.N.self_attn.kv_scale", "", "model.layers.N.self_attn.attn.k_scale", True),
    ("model.layers.N.self_attn.kv_scale", "fp8", "model.layers.N.self_attn.attn.k_scale", True),
    # llm-compressor.
    ("model.layers.N.self_attn.k_scale", "compressed-tensors", "model.layers.N.self_attn.attn.k_scale", True),
    ("model.layers.N.self_attn.v_scale", "compressed-tensors", "model.layers.N.self_attn.attn.v_scale", True),
    (
        "model.layers.N.self_attn.q_scale",
        "compressed-tensors",
        "model.layers.N.self_attn.attn.q_scale",
        False,
    ),
    (
        "language_model.model.layers.N.self_attn.k_scale",
        "",
        "language_model.model.layers.N.self_attn.attn.k_scale",
        True,
    ),
    (
        "model.language_model.layers.N.self_attn.v_scale",
        "",
        "model.language_model.layers.N.self_attn.attn.v_scale",
        True,
    ),
    # ModelOpt: k_proj.k_scale and v_proj.v_scale; the regex takes k_proj.v_scale too, SGLang does not.
    ("model.layers.N.self_attn.k_proj.k_scale", "modelopt", "model.layers.N.self_attn.attn.k_scale", True),
    ("model.layers.N.self_attn.v_proj.v_scale", "modelopt", "model.layers.N.self_attn.attn.v_scale", True),
    ("model.layers.N.self_attn.k_proj.v_scale", "modelopt", "model.layers.N.self_attn.attn.v_scale", False),
    # Fused projections: k and v only; a q_scale there becomes qkv_proj.attn.q_scale, no parameter.
    (
        "model.layers.N.self_attn.qkv_proj.k_scale",
        "compressed-tensors",
        "model.layers.N.self_attn.attn.k_scale",
        False,
    ),
    (
        "model.layers.N.self_attn.qkv_proj.v_scale",
        "compressed-tensors",
        "model.layers.N.self_attn.attn.v_scale",
        False,
    ),
    ("model.layers.N.self_attn.qkqkv_proj.k_scale", "fp8", "model.layers.N.self_attn.attn.k_scale", False),
    ("model.layers.N.self_attn.qkqkv_proj.v_scale", "fp8", "model.layers.N.self_attn.attn.v_scale", False),
    ("model.layers.N.self_attn.qkv_proj.q_scale", "fp8", None, False),
    # NemotronH's mixer holds its Attention as mixer.attn; a Llama loader has no mixer.
    (
        "backbone.layers.N.mixer.k_proj.k_scale",
        "compressed-tensors",
        "backbone.layers.N.mixer.attn.k_scale",
        False,
    ),
    ("backbone.layers.N.mixer.v_proj.v_scale", "", "backbone.layers.N.mixer.attn.v_scale", False),
    (
        "backbone.layers.N.mixer.v_proj.v_scale",
        "compressed-tensors",
        "backbone.layers.N.mixer.attn.v_scale",
        False,
    ),
    ("backbone.layers.N.mixer.k_scale", "", "backbone.layers.N.mixer.attn.k_scale", False),
    # HunYuan v3.
    ("model.layers.N.self_attn.q.scale", "fp8", "model.layers.N.self_attn.attn.q_scale", False),
    ("model.layers.N.self_attn.k_cache.scale", "fp8", "model.layers.N.self_attn.attn.k_scale", False),
    ("model.layers.N.self_attn.v_cache.scale", "", "model.layers.N.self_attn.attn.v_scale", False),
    ("model.layers.N.self_attn.v_cache.scale", "fp8", "model.layers.N.self_attn.attn.v_scale", False),
    ("model.layers.N.mixer.q.scale", "fp8", None, False),
    # output_scale suffixes: mapped by vLLM under fp8 and Quark only; SGLang renames k and v unchecked.
    ("model.layers.N.self_attn.k_proj.output_scale", "quark", "model.layers.N.self_attn.attn.k_scale", True),
    ("model.layers.N.self_attn.k_proj.output_scale", "fp8", "model.layers.N.self_attn.attn.k_scale", True),
    ("model.layers.N.self_attn.v_proj.output_scale", "fp8", "model.layers.N.self_attn.attn.v_scale", True),
    ("model.layers.N.self_attn.v_proj.output_scale", "quark", "model.layers.N.self_attn.attn.v_scale", True),
    ("model.layers.N.self_attn.q_proj.output_scale", "quark", "model.layers.N.self_attn.attn.q_scale", False),
    ("model.layers.N.self_attn.k_proj.output_scale", "compressed-tensors", None, True),
    ("model.layers.N.self_attn.v_proj.output_scale", "modelopt", None, True),
    (
        "model.layers.N.self_attn.prob_output_scale",
        "quark",
        "model.layers.N.self_attn.attn.prob_scale",
        False,
    ),
    ("model.layers.N.self_attn.prob_output_scale", "compressed-tensors", None, False),
    ("model.layers.N.mlp.k_proj.output_scale", "fp8", None, False),
    # vLLM's own parameter names stay; SGLang inserts a second `.attn` and drops them.
    ("model.layers.N.self_attn.attn.k_scale", "", "model.layers.N.self_attn.attn.k_scale", False),
    ("model.layers.N.self_attn.attn.prob_scale", "fp8", "model.layers.N.self_attn.attn.prob_scale", False),
    # Not scales of an attention layer.
    ("model.layers.N.mlp.k_scale", "fp8", None, False),
    ("model.layers.N.self_attn.attn.k_proj.k_scale", "modelopt", None, False),
    ("model.layers.N.self_attn.k_zero_point", "compressed-tensors", None, False),
    ("model.layers.N.self_attn.prob_scale", "fp8", None, False),
    ("model.layers.N.self_attn.k_proj.weight_scale", "fp8", None, False),
)


def recorded(tensor: str, family: str) -> tuple[str | None, bool] | None:
    """The recorded (vLLM parameter, SGLang reads) of `tensor` under `family`, any layer; None if not recorded."""
    parts = tensor.split(".")
    for position, part in enumerate(parts):
        if part.isdigit() and position > 0 and parts[position - 1] in ("layers", "blocks"):
            general = ".".join([*parts[:position], "N", *parts[position + 1 :]])
            for name, config, parameter, sglang in RECORDED:
                if (name, config) == (general, family):
                    return (None if parameter is None else parameter.replace(".N.", f".{part}.", 1)), sglang
            return None
    return None
