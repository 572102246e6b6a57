"""The naming table: the names KV-cache scale tensors go by in checkpoints, and what engines make of them.

One table, kept as data: `NAMINGS`. Each row is one naming convention: the
end of a tensor name (a regular expression), the producer that writes it,
which scale it holds (q, k, v, prob, or kv for the fused scale that serves
both k and v), the parameter name vLLM's cache-scale mapper rewrites it to,
and the quantization configs under which that rewrite applies. What SGLang
makes of a name is each model loader's own (`engines/sglang_0_5_23_models.py`).

vLLM's side follows vLLM 0.33.0: `QuantizationConfig.get_cache_scale_mapper()`
in `layers/quantization/base_config.py` (regular expressions, every one that
matches applied in order, each to the name the previous ones left), plus the
`output_scale` suffixes that `Fp8Config` (`fp8.py`) and `QuarkConfig`
(`quark/quark.py`) add on top; `CompressedTensorsConfig` and the ModelOpt
configs use the base rules alone there.

A rewritten name is a scale parameter only when it ends in
`.attn.{q,k,v,prob}_scale`, the attention layer's own parameters.
"""

from __future__ import annotations

import re
from typing import Literal

import attrs

__all__ = ["CONFIG_FAMILIES", "NAMINGS", "VLLM_RELEASE", "Kind", "Naming"]

VLLM_RELEASE = "0.33.0"

# The quantization configs the table tells apart ("" for none or another).
CONFIG_FAMILIES = ("compressed-tensors", "quark", "modelopt", "fp8", "")

Kind = Literal["q", "k", "v", "prob", "kv"]
_WITH_SUFFIXES = frozenset({"fp8", "quark"})


@attrs.frozen(kw_only=True)
class Naming:
    """One naming convention of a KV-cache scale tensor."""

    # Matches the end of a tensor name; group "kind" gives the scale's kind
    # where one pattern covers several.
    pattern: str
    producer: str
    # The kind when the pattern has no "kind" group.
    kind: Kind | None
    # vLLM's rewrite of the matched end (a `re.sub` template), or None when
    # vLLM's mapper leaves the name as it is.
    vllm_rewrite: str | None
    # The configs under which vLLM applies the rewrite; None: under every one.
    vllm_configs: frozenset[str] | None
    # How vLLM's mapper applies the rewrite: "regex" rules run first, in table
    # order; "suffix" rules after them, on the end of the name.
    step: Literal["regex", "suffix"] = "regex"
    # The naming as a person writes it, for messages.
    example: str = ""

    regex: re.Pattern[str] = attrs.field(init=False, eq=False, repr=False)

    @regex.default
    def _regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)


NAMINGS: tuple[Naming, ...] = (
    Naming(
        pattern=r"\.kv_scale$",
        producer="deprecated fused scale",
        kind="kv",
        vllm_rewrite=".attn.k_scale",
        vllm_configs=None,
        example="*.kv_scale",
    ),
    Naming(
        pattern=r"\.self_attn\.[kv]_proj\.(?P<kind>[kv])_scale$",
        producer="NVIDIA ModelOpt",
        kind=None,
        vllm_rewrite=r".self_attn.attn.\g<kind>_scale",
        vllm_configs=None,
        example="*.self_attn.k_proj.k_scale / v_proj.v_scale",
    ),
    Naming(
        pattern=r"\.self_attn\.qk(?:qk)?v_proj\.(?P<kind>[kv])_scale$",
        producer="fused qkv / qkqkv projection",
        kind=None,
        vllm_rewrite=r".self_attn.attn.\g<kind>_scale",
        vllm_configs=None,
        example="*.self_attn.qkv_proj.k_scale / v_scale (qkqkv_proj too)",
    ),
    Naming(
        pattern=r"\.mixer\.[kv]_proj\.(?P<kind>[kv])_scale$",
        producer="NemotronH",
        kind=None,
        vllm_rewrite=r".mixer.attn.\g<kind>_scale",
        vllm_configs=None,
        example="*.mixer.k_proj.k_scale / v_proj.v_scale",
    ),
    Naming(
        pattern=r"\.self_attn\.q\.scale$",
        producer="HunYuan v3",
        kind="q",
        vllm_rewrite=".self_attn.attn.q_scale",
        vllm_configs=None,
        example="*.self_attn.q.scale",
    ),
    Naming(
        pattern=r"\.self_attn\.(?P<kind>[kv])_cache\.scale$",
        producer="HunYuan v3",
        kind=None,
        vllm_rewrite=r".self_attn.attn.\g<kind>_scale",
        vllm_configs=None,
        example="*.self_attn.k_cache.scale / v_cache.scale",
    ),
    Naming(
        pattern=r"(?<!\.attn)\.(?P<kind>[qkv])_scale$",
        producer="llm-compressor / compressed-tensors",
        kind=None,
        vllm_rewrite=r".attn.\g<kind>_scale",
        vllm_configs=None,
        example="*.self_attn.k_scale / v_scale / q_scale",
    ),
    Naming(
        pattern=r"\.(?P<kind>[qkv])_proj\.output_scale$",
        producer="AMD Quark, older compressed-tensors",
        kind=None,
        vllm_rewrite=r".attn.\g<kind>_scale",
        vllm_configs=_WITH_SUFFIXES,
        step="suffix",
        example="*.k_proj.output_scale / v_proj / q_proj",
    ),
    Naming(
        pattern=r"\.self_attn\.prob_output_scale$",
        producer="AMD Quark",
        kind="prob",
        vllm_rewrite=".self_attn.attn.prob_scale",
        vllm_configs=_WITH_SUFFIXES,
        step="suffix",
        example="*.self_attn.prob_output_scale",
    ),
    Naming(
        pattern=r"\.attn\.(?P<kind>q|k|v|prob)_scale$",
        producer="vLLM's own parameter names",
        kind=None,
        vllm_rewrite=None,
        vllm_configs=None,
        example="*.attn.k_scale / v_scale / q_scale / prob_scale",
    ),
)
