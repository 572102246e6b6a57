"""The quantization configs each producer writes, fresh on every call: checkpoints built in the
tests carry them in config.json (or, for ModelOpt, hf_quant_config.json)."""

from __future__ import annotations

__all__ = [
    "compressed_tensors_config",
    "fp8_config",
    "modelopt_flat_config",
    "modelopt_quant_config",
    "quark_config",
]


def compressed_tensors_config(strategy: str = "tensor", dynamic: bool = False) -> dict[str, object]:
    scheme = {"num_bits": 8, "type": "float", "strategy": strategy, "dynamic": dynamic, "symmetric": True}
    return {
        "quant_method": "compressed-tensors",
        "format": "float-quantized",
        "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float"}}},
        "kv_cache_scheme": scheme,
    }


def quark_config() -> dict[str, object]:
    output = {"dtype": "fp8_e4m3", "qscheme": "per_tensor", "is_dynamic": False}
    return {
        "quant_method": "quark",
        "export": {"kv_cache_group": ["*k_proj", "*v_proj"], "pack_method": "reorder"},
        "layer_quant_config": {"*k_proj": {"output_tensors": output}, "*v_proj": {"output_tensors": output}},
    }


def fp8_config() -> dict[str, object]:
    return {"quant_method": "fp8", "activation_scheme": "static", "kv_cache_quant_method": "static"}


def modelopt_quant_config() -> dict[str, object]:
    return {
        "producer": {"name": "modelopt", "version": "0.29.0"},
        "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8"},
    }


def modelopt_flat_config() -> dict[str, object]:
    """ModelOpt's FP8 config in config.json's own `quantization_config`, without hf_quant_config.json."""
    return {"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}
