"""vLLM 0.33.0's handling of KV-cache scales, read from its sources (paths under `vllm/model_executor/`).

- Which attention layers hold scales (`layers/attention/attention.py`,
  `_init_kv_cache_quant`): those a quantization config gives a KV-cache
  method. fp8 (`fp8.py`), compressed-tensors (`compressed_tensors.py`) and
  Quark (`quark/quark.py`) give one to `Attention` only, ModelOpt FP8, NVFP4
  and MXFP8 (`modelopt.py`) to `MLAAttention` too, ModelOpt mixed precision
  to `Attention` when it declares `kv_cache_quant_algo`. Elsewhere q, k, v
  and prob are 1.0 and no scale parameter exists.
- How they settle: `BaseKVCacheMethod` (`layers/quantization/kv_cache.py`)
  starts each at -1.0; k alone is copied to v, v alone fails `assert
  layer.k_scale > 0.0`, a missing q or prob is 1.0 (the log's "Setting it to
  k_scale" is overwritten a few lines on). `CompressedTensorsKVCacheMethod`
  starts q, k and v at `torch.ones` and copies nothing; it has no prob.
- Which names reach them: `vllm_0_33_0_loading.py` reads a name as the
  model's loader does, and `vllm_0_33_0_models.py` holds how each model
  class's loader differs from Llama's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..scheme import modelopt_fields
from .checks import quark_kv_cache_config
from .model import AttentionKind, Failure, Release, ScaleMethod
from .vllm_0_33_0_loading import load_name
from .vllm_0_33_0_models import transformers_backend

__all__ = ["RELEASE"]

_ROOT = "vllm/model_executor/"
_KV_CACHE = _ROOT + "layers/quantization/kv_cache.py"
_COMPRESSED = _ROOT + "layers/quantization/compressed_tensors/compressed_tensors.py"
_WEIGHT_UTILS = _ROOT + "model_loader/weight_utils.py"

_ALL = frozenset({"q", "k", "v", "prob"})
_V_WITHOUT_K = Failure("AssertionError", "assert layer.k_scale > 0.0", _KV_CACHE)


def _base(name: str) -> ScaleMethod:
    return ScaleMethod(name, _ALL, sentinel=True, v_without_k=_V_WITHOUT_K, v_without_k_needs_fp8=True)


def _modelopt_declares(quantization: Mapping[str, Any]) -> bool:
    fields = modelopt_fields(quantization)
    scheme = fields.get("kv_cache_scheme")
    return bool(fields.get("kv_cache_quant_algo")) or (
        isinstance(scheme, dict) and scheme.get("type") == "float" and scheme.get("num_bits") == 8
    )


# v1/attention/backend.py refuses a backend without `supports_per_head_quant_scales`, which
# FlashAttention gives for its version 3 and later (v1/attention/backends/flash_attn.py), the
# versions fa_utils.py picks on SM90 and SM100.
_PER_HEAD_BACKENDS = (
    "runs per-head (attn_head) scales only with FlashAttention 3 or 4 (Hopper SM90, Blackwell SM100 "
    "GPUs); on other GPUs it finds no attention backend and does not start"
)


def _methods(
    quantization: Mapping[str, Any] | None, family: str
) -> dict[tuple[str, AttentionKind], ScaleMethod]:
    if quantization is None:
        return {}
    if family == "compressed-tensors":
        scheme = quantization.get("kv_cache_scheme")
        per_head = isinstance(scheme, dict) and scheme.get("strategy") == "attn_head"
        method = ScaleMethod(
            family,
            frozenset({"q", "k", "v"}),
            sentinel=False,
            per_head=per_head,
            requires=_PER_HEAD_BACKENDS if per_head else "",
        )
        return {(family, "standard"): method}
    if family in ("fp8", "quark"):
        return {(family, "standard"): _base(family)}
    if family == "modelopt":
        return {(family, "standard"): _base(family), (family, "mla"): _base(family)}
    if family == "modelopt-mixed" and _modelopt_declares(quantization):
        return {(family, "standard"): _base("modelopt")}
    return {}


def _compressed_tensors_check(
    quantization: Mapping[str, Any], family: str, attention: AttentionKind
) -> Failure | None:
    """`CompressedTensorsKVCacheMethod.validate_kv_cache_scheme`, run as each `Attention` is built."""
    scheme = quantization.get("kv_cache_scheme")
    if family != "compressed-tensors" or attention != "standard" or scheme is None:
        return None
    if not isinstance(scheme, dict):
        message = f"'{type(scheme).__name__}' object has no attribute 'get'"
        return Failure("AttributeError", message, _COMPRESSED)
    type_, num_bits = scheme.get("type"), scheme.get("num_bits")
    if type_ != "float" or num_bits != 8:
        message = (
            "Currently supported kv cache quantization is num_bits=8, type=float, "
            f"however received num_bits={num_bits}, type={type_}"
        )
        return Failure("NotImplementedError", message, _COMPRESSED)
    strategy = scheme.get("strategy")
    strategies = ("tensor", "channel", "group", "block", "token", "tensor_group", "attn_head")
    if strategy not in strategies:
        # `QuantizationStrategy(strategy)`, compressed-tensors' enum, refuses the value.
        return Failure("ValueError", f"{strategy!r} is not a valid QuantizationStrategy", _COMPRESSED)
    if strategy not in ("tensor", "attn_head"):
        message = (
            "Invalid strategy for compressed-tensors KV cache. Expected strategies: "
            "(<QuantizationStrategy.TENSOR: 'tensor'>, <QuantizationStrategy.ATTN_HEAD: 'attn_head'>), "
            # A str-valued Enum member formats as its name in the Python releases vLLM 0.33.0 runs on.
            f"found strategy: QuantizationStrategy.{strategy.upper()}"
        )
        return Failure("NotImplementedError", message, _COMPRESSED)
    symmetric = scheme.get("symmetric")
    if not symmetric:
        message = (
            "Only support symmetric scaling factor for compressed-tensors KV cache. "
            f"However found symmetric: {symmetric}"
        )
        return Failure("NotImplementedError", message, _COMPRESSED)
    return None


def _quark_check(quantization: Mapping[str, Any], family: str, attention: AttentionKind) -> Failure | None:
    if family != "quark":
        return None
    return quark_kv_cache_config(quantization, _ROOT + "layers/quantization/quark/quark.py")


def _fp8_by_default(quantization: Mapping[str, Any] | None, family: str, attention: AttentionKind) -> bool:
    """`resolve_kv_cache_dtype_string` (utils/torch_utils.py) for ModelOpt, and `Attention.__init__`
    (layers/attention/attention.py) turning "auto" into "fp8" for a compressed-tensors `kv_cache_scheme`."""
    if quantization is None:
        return False
    if family.startswith("modelopt"):
        return _modelopt_cache_dtype(quantization)
    scheme = quantization.get("kv_cache_scheme")
    return family == "compressed-tensors" and attention == "standard" and isinstance(scheme, dict)


def _modelopt_cache_dtype(quantization: Mapping[str, Any]) -> bool:
    """`get_kv_cache_quant_algo_string` (utils/torch_utils.py): whether ModelOpt's KV-cache algorithm
    is one `--kv-cache-dtype auto` resolves to (FP8 or NVFP4); any other falls back to "auto"."""
    inner = modelopt_fields(quantization)
    algorithm = (
        inner.get("kv_cache_scheme")
        or quantization.get("kv_cache_scheme")
        or inner.get("kv_cache_quant_algo")
        or quantization.get("kv_cache_quant_algo")
    )
    if isinstance(algorithm, dict):
        fp8 = algorithm.get("dynamic") is False and algorithm.get("num_bits") == 8
        return algorithm.get("type") == "float" and (fp8 or algorithm.get("num_bits") == 4)
    return isinstance(algorithm, str) and algorithm.lower() in ("fp8", "nvfp4")


def _accept(
    method: ScaleMethod,
    kind: str,
    shape: tuple[int, ...],
    values: tuple[float, ...],
    heads: tuple[int | None, int | None],
) -> tuple[float, ...] | Failure:
    if method.sentinel:
        # KVCacheScaleParameter.weight_loader: one value, any shape ([1, 1, 1] too).
        if len(values) == 1:
            return values
        message = f"KV-cache scale expects a scalar weight, got shape {tuple(shape)}"
        return Failure("ValueError", message, _KV_CACHE)
    if not method.per_head or kind == "prob":
        if len(values) == 1:
            return values
        # default_weight_loader into the one-value parameter.
        message = f"Attempted to load weight (torch.Size({list(shape)})) into parameter (torch.Size([1]))"
        return Failure("AssertionError", message, _WEIGHT_UTILS)
    # compressed-tensors' `_tp_aware_loader` (attn_head): flattened, q reduced by
    # max over each KV head's group of query heads; one value fills every head.
    total, kv_heads = heads
    if kv_heads is None or (kind == "q" and total is None):
        return values
    count = total if kind == "q" else kv_heads
    if len(values) == 1:
        # q is first viewed as one row per KV head's group of query heads: one value makes
        # such a row only when each group is one head.
        if kind == "q" and total is not None and total != kv_heads:
            message = f"shape '[-1, {total // kv_heads}]' is invalid for input of size 1"
            return Failure("RuntimeError", message, _COMPRESSED)
        return values * kv_heads
    if len(values) != count or count is None:
        message = f"The size of tensor a ({kv_heads}) must match the size of tensor b ({len(values)})"
        return Failure("RuntimeError", message, _COMPRESSED)
    if kind == "q":
        group = count // kv_heads
        if group == 0 or count % kv_heads:
            # `loaded_weight.view(-1, total_num_heads // total_num_kv_heads)`.
            message = f"shape '[-1, {group}]' is invalid for input of size {len(values)}"
            return Failure("RuntimeError", message, _COMPRESSED)
        return tuple(max(values[head * group : (head + 1) * group]) for head in range(kv_heads))
    return values


RELEASE = Release(
    engine="vllm",
    release="0.33.0",
    title="vLLM 0.33.0",
    methods_for=_methods,
    config_checks=(_compressed_tensors_check, _quark_check),
    load=load_name,
    fp8_by_default=_fp8_by_default,
    backend=transformers_backend,
    # transformers_utils/model_arch_config_convertor.py `is_deepseek_mla`.
    mla_model_types=frozenset(
        {
            "axk1",
            "deepseek_v2",
            "deepseek_v3",
            "deepseek_v32",
            "deepseek_v4",
            "deepseek_v41",
            "dots3_note",
            "deepseek_mtp",
            "k3_dspark",
            "glm5_next",
            "glm5_next_text",
            "glm_moe_dsa",
            "glm4_moe_lite",
            "glm4_moe_lite_mtp",
            "kimi_k2",
            "kimi_linear",
            "longcat_flash",
            "pangu_ultra_moe",
            "pangu_ultra_moe_mtp",
            "bailing_hybrid",
            "bailing_hybrid_mtp",
            "bailing_hybrid_v3_mtp",
            "hy_v4",
            "hy_v4_mtp",
        }
    ),
    accept=_accept,
)
