"""What an engine makes of a checkpoint's KV-cache scales: the data each engine release is described by, and the answer.

An engine release is data (`Release`): which KV-cache method an attention
layer gets under each quantization config and attention kind
(`ScaleMethod`), the start-up checks of its configs, and how it maps tensor
names to attention parameters (`Load`). `view.engine_view` reads a
checkpoint through one release and answers with an `EngineView`: whether the
engine starts, and the q, k, v and prob every attention layer runs with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from ..numbers import float32

__all__ = [
    "AttentionKind",
    "EngineView",
    "Failure",
    "Ignored",
    "LayerView",
    "Load",
    "LoadContext",
    "Release",
    "ScaleMethod",
    "ScaleView",
    "Source",
    "float32",
]

AttentionKind = Literal["standard", "mla"]
# Where a value the kernels get comes from: the checkpoint's tensor, the
# engine's default of 1.0, or the k scale (v taking k's value).
Source = Literal["checkpoint", "default", "k"]
KINDS = ("q", "k", "v", "prob")


@attrs.frozen
class Failure:
    """Why the engine does not start: the exception it raises, its words, its source file."""

    error: str
    message: str
    where: str

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "message": self.message, "where": self.where}


@attrs.frozen
class ScaleMethod:
    """The KV-cache method of an attention layer: which scales it holds and how it settles them."""

    # The `kv_cache_method` of the JSON form: "fp8", "compressed-tensors", "quark", "modelopt".
    name: str
    # The scale parameters the layer holds; a scale it lacks is always 1.0.
    parameters: frozenset[str]
    # True for a method whose scales start at an "absent" sentinel (vLLM's
    # BaseKVCacheMethod): v then takes k's value when only k was loaded, and
    # v without k stops the engine. False: each absent scale is 1.0 on its own.
    sentinel: bool
    # Whether k, v and q may hold one value per head; the kernels get the largest.
    per_head: bool = False
    # The failure when only v is loaded, for a sentinel method.
    v_without_k: Failure | None = None
    # Whether that failure needs an FP8 KV cache: vLLM settles the scales only
    # `if is_quantized_kv_cache(...)`, so a cache in the model's dtype starts.
    v_without_k_needs_fp8: bool = False
    # What the method asks of the GPU, where the engine does not start without
    # it: a verb phrase that follows the release's title ("" for nothing).
    requires: str = ""


@attrs.frozen
class LoadContext:
    """What decides how a release maps a checkpoint's tensor names."""

    # The quantization config family ("" for none): name_table.CONFIG_FAMILIES.
    family: str
    architecture: str | None
    attention: AttentionKind
    # The scale parameters the attention layers hold (none without a method).
    parameters: frozenset[str]
    # Whether any quantization config applies (one of a family not modelled too).
    quantized: bool = False
    # The language model's own architecture, where its config names one (InternVL's `llm_config`).
    text_architecture: str | None = None


@attrs.frozen
class Load:
    """What a release does with one tensor: load it into (layer's) kind, ignore it, or fail."""

    outcome: Literal["loaded", "ignored", "fails"]
    kind: str | None = None
    # Why it is ignored or fails, in the engine's words.
    reason: str = ""
    failure: Failure | None = None
    # For an ignored tensor whose values the loader still checks: given the
    # tensor's name (each layer's, as a Load serves every layer of a stack) and
    # its values, the failure, or None when they pass.
    value_check: Callable[[str, tuple[float, ...]], Failure | None] | None = attrs.field(
        default=None, eq=False
    )


@attrs.frozen
class Release:
    """One engine release's handling of KV-cache scales, kept as data."""

    engine: Literal["vllm", "sglang"]
    release: str
    # As a person writes it: "vLLM 0.33.0".
    title: str
    # Given the applying quantization config (a JSON object, or None) and
    # its family: (family, attention kind) -> the KV-cache method; absent: none.
    methods_for: Callable[[Mapping[str, Any] | None, str], Mapping[tuple[str, AttentionKind], ScaleMethod]]
    # The start-up checks of the config, given the applying quantization
    # config (a JSON object), its family and the attention kind; each returns
    # a failure or None.
    config_checks: tuple[Callable[[Mapping[str, Any], str, AttentionKind], Failure | None], ...]
    # How one tensor name is read, given the tensor's name and the context.
    load: Callable[[str, LoadContext], Load]
    # Whether the default `--kv-cache-dtype auto` gives an FP8 KV cache under
    # the quantization config, its family and the attention kind (else the
    # cache keeps the model's dtype and the scales go unused unless the
    # engine is told `--kv-cache-dtype fp8`).
    fp8_by_default: Callable[[Mapping[str, Any] | None, str, AttentionKind], bool]
    # The model_types the release runs with multi-head latent attention (MLA).
    mla_model_types: frozenset[str]
    # How a loaded tensor's values become the parameter's: given the method,
    # the kind, the tensor's shape, its values and the head counts (heads,
    # kv heads; None where the config does not say), the values as held
    # (one, or one per KV head), or the failure of loading it.
    accept: Callable[
        [ScaleMethod, str, tuple[int, ...], tuple[float, ...], tuple[int | None, int | None]],
        tuple[float, ...] | Failure,
    ]
    # The class of its Transformers backend that serves an architecture the release has no model
    # of, given the architecture ("" for one it has, or for none named).
    backend: Callable[[str], str] = lambda architecture: ""

    def method(
        self, quantization: Mapping[str, Any] | None, family: str, attention: AttentionKind
    ) -> ScaleMethod | None:
        return self.methods_for(quantization, family).get((family, attention))


# Not slotted, as LayerView: a view makes one for each scale, and a frozen slotted
# class sets each field through object.__setattr__, which costs more than a dict's.
@attrs.frozen(slots=False)
class ScaleView:
    """One of q, k, v and prob as the kernels get it, and where it came from."""

    value: float
    source: Source
    tensor: str | None = None
    # The per-head values as loaded (q after the engine's reduction), or None.
    per_head: tuple[float, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "value": float32(self.value),
            "from": self.source,
            "tensor": self.tensor,
            "per_head": None if self.per_head is None else [float32(value) for value in self.per_head],
        }


DEFAULT = ScaleView(1.0, "default")


@attrs.frozen(slots=False)
class LayerView:
    layer: int
    q: ScaleView = DEFAULT
    k: ScaleView = DEFAULT
    v: ScaleView = DEFAULT
    prob: ScaleView = DEFAULT

    def scale(self, kind: str) -> ScaleView:
        view: ScaleView = getattr(self, kind)
        return view

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, **{kind: self.scale(kind).to_json() for kind in KINDS}}


@attrs.frozen
class Ignored:
    """A scale tensor the engine reads into no layer, and the engine's reason."""

    layer: int
    # The kind the checkpoint's name gives it: q, k, v, prob, or kv (k and v).
    kind: str
    where: str
    reason: str


@attrs.frozen
class EngineView:
    """What one engine release does with a checkpoint: whether it starts, and each attention layer's scales."""

    engine: str
    release: str
    title: str
    failure: Failure | None
    # The KV-cache method's name, or None when no method applies (the scales are never read).
    kv_cache_method: str | None
    # Every attention layer that keeps a KV cache, in order; empty when the engine does not start.
    layers: tuple[LayerView, ...]
    # The scale tensors the engine reads into no layer, for messages.
    ignored: tuple[Ignored, ...] = ()
    # The scale parameters the layers hold; one they lack is 1.0 whatever the checkpoint holds.
    parameters: frozenset[str] = frozenset()
    # Whether the engine's default KV-cache dtype is FP8 for this checkpoint.
    fp8_by_default: bool = True
    # Where the engine starts only because its default cache keeps the model's
    # dtype: the failure it meets when served with `--kv-cache-dtype fp8`.
    fp8_failure: Failure | None = None
    # What the KV-cache method asks of the GPU ("" for nothing).
    requires: str = ""
    # The Transformers backend's class that serves the architecture, which the release has no
    # model of ("" where it has one).
    backend: str = ""

    @property
    def starts(self) -> bool:
        return self.failure is None

    @property
    def starts_with_scales(self) -> bool:
        """Whether the engine starts when served so that it uses the scales (an FP8 cache)."""
        return self.failure is None and self.fp8_failure is None

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "release": self.release,
            "starts": self.starts,
            "failure": None if self.failure is None else self.failure.to_json(),
            "kv_cache_method": self.kv_cache_method,
            "layers": [layer.to_json() for layer in self.layers],
            "failure_with_fp8_cache": None if self.fp8_failure is None else self.fp8_failure.to_json(),
            "transformers_backend": self.backend or None,
        }
