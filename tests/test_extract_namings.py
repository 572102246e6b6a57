"""extract on checkpoints in every producer's naming: the same file from each."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers import (
    PRODUCERS,
    compressed_tensors_config,
    fp8_config,
    model_config,
    quark_config,
    write_named,
)
from quantparams import ExtractError, extract

K = {0: 0.25, 1: 0.5, 2: 0.75}
V = {0: 0.5, 1: 0.125, 2: 1.5}


@pytest.mark.parametrize("producer", sorted(PRODUCERS))
@pytest.mark.parametrize("config", [None, compressed_tensors_config(), quark_config()])
def test_every_naming_is_read(tmp_path: Path, producer: str, config: dict[str, object] | None) -> None:
    names = PRODUCERS[producer]
    scales: dict[str, float] = {}
    for layer in K:
        for kind, tensor in names.items():
            scales[tensor.format(layer=layer)] = {"k": K, "v": V, "kv": V, "q": K, "prob": V}[kind][layer]
    write_named(tmp_path, scales, config=model_config(3, config))
    made = extract(tmp_path)
    fused = "kv" in names
    assert made.schema.kv_cache.scaling_factor == {
        0: V if fused else {layer: max(K[layer], V[layer]) for layer in K}
    }
    assert made.reduced is not fused
    extra = [kind for kind in ("q", "prob") if kind in names]
    assert len(made.not_written) == 3 * len(extra)
    if extra:
        count = 3 * len(extra)
        assert made.notes == (f"{count} q/prob scales not written: the file has no place for them",)
    else:
        assert made.notes == ()


def test_per_head_scales_reduce_to_their_largest(tmp_path: Path) -> None:
    scales = {
        "model.layers.0.self_attn.k_scale": [0.25, 0.75],
        "model.layers.0.self_attn.v_scale": [0.5, 0.125],
        "model.layers.1.self_attn.k_scale": [0.25, 0.125],
        "model.layers.1.self_attn.v_scale": [0.0625, 2.0],
    }
    write_named(tmp_path, scales, config=model_config(2, compressed_tensors_config("attn_head")))
    made = extract(tmp_path)
    assert made.schema.kv_cache.scaling_factor == {0: {0: 0.75, 1: 2.0}}
    assert (made.per_head, made.notes) == (True, ("per-head scales reduced to their largest",))
    made_k = extract(tmp_path, reduce="k")
    assert made_k.schema.kv_cache.scaling_factor == {0: {0: 0.75, 1: 0.25}}


def test_mtp_layers_are_left_out_with_a_note(tmp_path: Path) -> None:
    scales = {f"model.layers.{layer}.self_attn.kv_scale": 0.5 + layer for layer in range(5)}
    write_named(tmp_path, scales, config=model_config(3, fp8_config()))
    made = extract(tmp_path, tp_size=2)
    assert made.schema.kv_cache.scaling_factor == {rank: {0: 0.5, 1: 1.5, 2: 2.5} for rank in range(2)}
    assert (made.left_out, made.notes) == ((3, 4), ("layers 3..4 past num_hidden_layers left out",))


def test_an_unsound_scale_of_a_left_out_layer_is_not_refused(tmp_path: Path) -> None:
    scales = {"model.layers.0.self_attn.kv_scale": 0.5, "model.layers.1.self_attn.kv_scale": float("nan")}
    write_named(tmp_path, scales, config=model_config(1, fp8_config()))
    made = extract(tmp_path)
    assert made.schema.kv_cache.scaling_factor == {0: {0: 0.5}}
    assert made.left_out == (1,)


def test_no_scales_says_which_config(tmp_path: Path) -> None:
    write_named(
        tmp_path, {"model.layers.0.self_attn.k_proj.weight_scale": 0.5}, config=model_config(2, fp8_config())
    )
    with pytest.raises(ExtractError) as caught:
        extract(tmp_path)
    [problem] = caught.value.problems
    assert problem.message == (
        "found no KV-cache scale tensors among the 2 tensors of the file; config.json "
        "quantization_config.kv_cache_quant_method declares static KV-cache quantization: calibrate the KV "
        "cache with a producer (llm-compressor, NVIDIA ModelOpt, AMD Quark), or serve without static scales "
        "(the engines use 1.0)"
    )
