"""The naming table against name -> parameter pairs recorded from the engines' code paths (`recorded_names`)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine_cases import sglang_llama_reads
from quantparams.checkpoint import NAMINGS, VLLM_RELEASE
from quantparams.checkpoint import naming as naming_module
from quantparams.checkpoint.layers import is_tower
from quantparams.checkpoint.name_table import CONFIG_FAMILIES
from quantparams.checkpoint.naming import (
    looks_like_scale,
    mapped_name,
    name_scale,
    tensor_layer,
    vllm_name,
)
from recorded_names import RECORDED, recorded

STACKS = ["model.", "language_model.model.", "model.language_model.", "backbone.", ""]
MODULES = ["self_attn.", "mixer.", "self_attn.attn.", "mlp.", "self_attn.k_proj."]
ENDS = [
    "k_scale",
    "v_scale",
    "q_scale",
    "kv_scale",
    "prob_scale",
    "k_proj.k_scale",
    "v_proj.v_scale",
    "k_proj.v_scale",
    "qkv_proj.k_scale",
    "qkqkv_proj.v_scale",
    "qkv_proj.q_scale",
    "k_proj.output_scale",
    "v_proj.output_scale",
    "q_proj.output_scale",
    "prob_output_scale",
    "q.scale",
    "k_cache.scale",
    "v_cache.scale",
    "k_proj.weight",
    "k_proj.weight_scale",
    "k_zero_point",
    "kv_cache_scaling_factor",
]
names = st.builds(
    lambda stack, layer, module, end: f"{stack}layers.{layer}.{module}{end}",
    st.sampled_from(STACKS),
    st.integers(0, 200),
    st.sampled_from(MODULES),
    st.sampled_from(ENDS),
)


@pytest.mark.parametrize(("tensor", "family", "parameter", "sglang"), RECORDED)
def test_the_table_gives_every_recorded_pair(
    tensor: str, family: str, parameter: str | None, sglang: bool
) -> None:
    for layer in (0, 3, 117):
        name = tensor.replace(".N.", f".{layer}.")
        expected = None if parameter is None else parameter.replace(".N.", f".{layer}.")
        assert vllm_name(name, family) == expected
        named = name_scale(name, family)
        if expected is not None or sglang:
            # Every name an engine reads is in the table.
            assert named is not None
        if named is not None:
            assert (named.layer, named.vllm_name) == (layer, expected)
        # SGLang's release reads the name as the recording says.
        assert sglang_llama_reads(name, family) == sglang


@given(names, st.sampled_from(CONFIG_FAMILIES))
def test_the_table_agrees_with_every_recorded_name_it_is_asked(tensor: str, family: str) -> None:
    named = name_scale(tensor, family)
    pair = recorded(tensor, family)
    if pair is not None and named is not None:
        assert (named.vllm_name, sglang_llama_reads(tensor, family)) == pair
    if named is not None:
        assert named.layer == int(tensor.split("layers.")[1].split(".")[0])
        assert named.vllm_name == vllm_name(tensor, family)


@pytest.mark.parametrize(
    ("tensor", "family", "kind", "expected"),
    [
        ("model.layers.3.self_attn.kv_scale", "", "kv", "model.layers.3.self_attn.attn.k_scale"),
        (
            "model.layers.3.self_attn.k_scale",
            "compressed-tensors",
            "k",
            "model.layers.3.self_attn.attn.k_scale",
        ),
        (
            "model.layers.3.self_attn.q_scale",
            "compressed-tensors",
            "q",
            "model.layers.3.self_attn.attn.q_scale",
        ),
        ("model.layers.3.self_attn.k_proj.k_scale", "modelopt", "k", "model.layers.3.self_attn.attn.k_scale"),
        ("model.layers.3.self_attn.qkqkv_proj.v_scale", "", "v", "model.layers.3.self_attn.attn.v_scale"),
        ("backbone.layers.3.mixer.k_proj.k_scale", "", "k", "backbone.layers.3.mixer.attn.k_scale"),
        ("model.layers.3.self_attn.q.scale", "", "q", "model.layers.3.self_attn.attn.q_scale"),
        ("model.layers.3.self_attn.v_cache.scale", "", "v", "model.layers.3.self_attn.attn.v_scale"),
        (
            "model.layers.3.self_attn.k_proj.output_scale",
            "quark",
            "k",
            "model.layers.3.self_attn.attn.k_scale",
        ),
        ("model.layers.3.self_attn.v_proj.output_scale", "fp8", "v", "model.layers.3.self_attn.attn.v_scale"),
        (
            "model.layers.3.self_attn.prob_output_scale",
            "quark",
            "prob",
            "model.layers.3.self_attn.attn.prob_scale",
        ),
        # Under compressed-tensors vLLM 0.33.0 maps no output_scale: the layer keeps 1.0.
        ("model.layers.3.self_attn.k_proj.output_scale", "compressed-tensors", "k", None),
        ("model.layers.3.self_attn.attn.prob_scale", "", "prob", "model.layers.3.self_attn.attn.prob_scale"),
    ],
)
def test_each_producers_naming(tensor: str, family: str, kind: str, expected: str | None) -> None:
    named = name_scale(tensor, family)
    assert named is not None
    assert (named.layer, named.kind, named.vllm_name) == (3, kind, expected)


def test_what_sglangs_llama_loader_reads() -> None:
    reads = {
        tensor: sglang_llama_reads(tensor, "")
        for tensor in (
            "model.layers.0.self_attn.kv_scale",
            "model.layers.0.self_attn.k_scale",
            "model.layers.0.self_attn.k_proj.k_scale",
            "model.layers.0.self_attn.q_scale",
            "model.layers.0.self_attn.qkv_proj.k_scale",
            "model.layers.0.self_attn.k_proj.output_scale",
        )
        if name_scale(tensor, "") is not None
    }
    assert reads == {
        "model.layers.0.self_attn.kv_scale": True,
        "model.layers.0.self_attn.k_scale": True,
        "model.layers.0.self_attn.k_proj.k_scale": True,
        "model.layers.0.self_attn.q_scale": False,
        "model.layers.0.self_attn.qkv_proj.k_scale": False,
        # maybe_remap_kv_scale_name renames Quark's output_scale names without checking them.
        "model.layers.0.self_attn.k_proj.output_scale": True,
    }


def test_a_vision_towers_layers_are_not_the_language_models() -> None:
    tower = name_scale("vision_tower.vision_model.encoder.layers.0.self_attn.k_scale", "")
    assert tower is not None
    assert tower.stack == "vision_tower.vision_model.encoder.layers"
    assert is_tower(tower.stack)
    for stack in ("model.layers", "transformer.blocks", "model.llm.layers", "model.language_model.layers"):
        named = name_scale(f"{stack}.3.self_attn.k_scale", "")
        assert named is not None
        assert (named.stack, named.layer) == (stack, 3)
        assert not is_tower(stack)
    assert is_tower("vision_model.model.layers")
    assert is_tower("model.mtp.layers")
    assert name_scale("model.layers.0.self_attn.k_proj.weight", "") is None


def test_lookalikes() -> None:
    assert looks_like_scale("model.layers.0.self_attn.kv_cache_scaling_factor")
    assert looks_like_scale("model.layers.0.self_attn.k_proj.output_scale")
    assert not looks_like_scale("model.layers.0.self_attn.k_proj.weight_scale")
    # Towers are told apart by their stack, not by the name's look.
    assert looks_like_scale("visual.blocks.3.attn.k_scale")


def test_the_table_names_its_release_and_producers() -> None:
    assert VLLM_RELEASE == "0.33.0"
    producers = {naming.producer for naming in NAMINGS}
    assert {"NVIDIA ModelOpt", "NemotronH", "HunYuan v3", "deprecated fused scale", "AMD Quark"} <= producers
    assert all(naming.example for naming in NAMINGS)


@given(names | st.text(alphabet="abk_.0123456789", max_size=30), st.sampled_from(CONFIG_FAMILIES))
def test_a_layers_name_reads_as_layer_0s_does(tensor: str, family: str) -> None:
    # mapped_name and name_scale work a name out once, on layer 0's name; _mapped and
    # _read read the name itself.
    assert mapped_name(tensor, family) == naming_module._mapped(tensor, family)
    named = name_scale(tensor, family)
    has_layer = tensor.endswith("scale") and tensor_layer(tensor) is not None
    itself = naming_module._read(tensor, family) if has_layer else None
    if named is None:
        assert itself is None
    else:
        assert (named.naming, named.kind, named.vllm_name) == itself
