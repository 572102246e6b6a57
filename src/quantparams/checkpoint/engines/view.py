"""`engine_view`: a checkpoint read through one engine release, as the engine itself reads it.

The steps follow the engine's start: the config's checks as the model is
built, then each scale tensor's name through the release's loader and its
shape through the parameter's loader, then each attention layer's scales
settled by its KV-cache method. The first failure in that order is the
one the engine stops at.
"""

from __future__ import annotations

import attrs

from ..scan import FoundScale
from ..scheme import ModelConfig
from .model import (
    AttentionKind,
    EngineView,
    Failure,
    Ignored,
    LayerView,
    Load,
    LoadContext,
    Release,
    ScaleMethod,
    ScaleView,
)

__all__ = ["CheckpointFacts", "attention_kind", "engine_view"]


@attrs.frozen
class CheckpointFacts:
    """What an engine view is computed from."""

    config: ModelConfig
    # The language model's scale tensors whose values could be read, in the order they are stored.
    scales: tuple[FoundScale, ...]
    # The attention layers that keep a KV cache, in order.
    layers: tuple[int, ...]


def attention_kind(release: Release, config: ModelConfig) -> AttentionKind:
    """MLA for the model types the release runs with latent attention, when the config gives
    `kv_lora_rank` (or, for a config of per-layer compress ratios, `head_dim`)."""
    if config.model_type not in release.mla_model_types:
        return "standard"
    text = config.text
    # DeepSeek-V4's configs: `compress_ratios`, else `compress_rates` by layer type (and MTP layer).
    ratios = text.get("compress_ratios")
    if ratios is not None:
        compressed = bool(ratios)
    else:
        compressed = text.get("compress_rates") is not None and bool(
            text.get("layer_types") or text.get("num_nextn_predict_layers")
        )
    return "mla" if text.get("head_dim" if compressed else "kv_lora_rank") is not None else "standard"


def engine_view(release: Release, facts: CheckpointFacts) -> tuple[EngineView, str | None]:
    """What `release` makes of the checkpoint, and where a failure lies (a tensor's path, or None)."""
    config = facts.config
    attention = attention_kind(release, config)
    backend = release.backend(config.architecture or "")

    def failed(
        failure: Failure, method: ScaleMethod | None, where: str | None
    ) -> tuple[EngineView, str | None]:
        name = None if method is None else method.name
        view = EngineView(release.engine, release.release, release.title, failure, name, (), backend=backend)
        return view, where

    quantization = config.quantization
    if quantization is not None:
        for check in release.config_checks:
            failure = check(quantization, config.family, attention)
            if failure is not None:
                return failed(failure, None, None)
    method = release.method(quantization, config.family, attention)
    context = LoadContext(
        config.family,
        config.architecture,
        attention,
        frozenset() if method is None else method.parameters,
        quantized=quantization is not None,
        text_architecture=config.text_architecture,
    )
    try:
        held, ignored = _loaded(release, facts, context, method)
    except _Refused as refused:
        return failed(refused.failure, method, refused.where)
    fp8_by_default = release.fp8_by_default(quantization, config.family, attention)
    layers, failure, fp8_failure = _settled(method, facts.layers, held, fp8_by_default)
    if failure is not None:
        return failed(failure, method, None)
    name = None if method is None else method.name
    view = EngineView(
        release.engine,
        release.release,
        release.title,
        None,
        name,
        layers,
        ignored,
        parameters=context.parameters,
        fp8_by_default=fp8_by_default,
        fp8_failure=fp8_failure,
        requires="" if method is None else method.requires,
        backend=backend,
    )
    return view, None


class _Refused(Exception):
    """The failure a scale tensor stops the engine with, and the tensor's path."""

    def __init__(self, failure: Failure, where: str) -> None:
        super().__init__(failure.message)
        self.failure, self.where = failure, where


def _loaded(
    release: Release, facts: CheckpointFacts, context: LoadContext, method: ScaleMethod | None
) -> tuple[dict[int, dict[str, ScaleView]], tuple[Ignored, ...]]:
    """Each layer's loaded scales by kind, and the scale tensors no layer takes; raises `_Refused`
    for the first tensor the engine stops at."""
    config = facts.config
    keeps_cache = set(facts.layers)
    held: dict[int, dict[str, ScaleView]] = {}
    ignored: list[Ignored] = []
    heads = (config.num_attention_heads, config.num_key_value_heads)
    # What the release makes of a name is the same in every layer of a stack.
    loads: dict[tuple[str, str], Load] = {}
    for scale in facts.scales:
        named = scale.named
        key = named.stack, named.rest
        load = loads.get(key)
        if load is None:
            load = loads[key] = release.load(named.tensor, context)
        if load.outcome == "fails" and load.failure is not None:
            raise _Refused(load.failure, scale.where)
        if load.value_check is not None and scale.values is not None:
            refused = load.value_check(named.tensor, scale.values)
            if refused is not None:
                raise _Refused(refused, scale.where)
        kind = load.kind
        if load.outcome != "loaded" or method is None or kind is None or scale.values is None:
            ignored.append(Ignored(named.layer, named.kind, scale.where, load.reason))
            continue
        layer = named.layer
        if layer not in keeps_cache:
            reason = f"layer {layer} keeps no KV cache"
            ignored.append(Ignored(layer, named.kind, scale.where, reason))
            continue
        values = release.accept(method, kind, scale.shape, scale.values, heads)
        if isinstance(values, Failure):
            raise _Refused(values, scale.where)
        per_head = values if len(values) > 1 else None
        # Loaded twice, the later one stays.
        loaded = held.get(layer)
        if loaded is None:
            loaded = held[layer] = {}
        loaded[kind] = ScaleView(max(values), "checkpoint", named.tensor, per_head)
    return held, tuple(ignored)


# A layer with no scale loaded; never changed.
_NONE: dict[str, ScaleView] = {}


def _settled(
    method: ScaleMethod | None,
    layers: tuple[int, ...],
    held: dict[int, dict[str, ScaleView]],
    fp8_by_default: bool,
) -> tuple[tuple[LayerView, ...], Failure | None, Failure | None]:
    """Each of `layers` as its method settles the scales `held` for it; the failure that stops
    the engine, or else the one it meets only when served with an FP8 cache."""
    # v without k fails only for an FP8 cache where the method says so; the engine then starts by
    # default, and its layers are those it would hold had the check passed.
    fp8_only = method is not None and method.v_without_k_needs_fp8 and not fp8_by_default
    fp8_failure = None
    settled = []
    for layer in layers:
        loaded = held.get(layer, _NONE)
        refused = _refused(method, loaded)
        if refused is not None:
            if not fp8_only:
                return (), refused, None
            fp8_failure = fp8_failure or refused
        settled.append(_settle(method, layer, loaded))
    return tuple(settled), None, fp8_failure


def _refused(method: ScaleMethod | None, loaded: dict[str, ScaleView]) -> Failure | None:
    """The failure of a layer that loaded `loaded`, by kind, when its method refuses v without k."""
    if method is None or not method.sentinel or "k" in loaded or "v" not in loaded:
        return None
    return method.v_without_k


def _settle(method: ScaleMethod | None, layer: int, loaded: dict[str, ScaleView]) -> LayerView:
    """Layer `layer` as its KV-cache method settles the scales `loaded` into it, by kind."""
    if method is None:
        return LayerView(layer)
    views = loaded
    if not loaded.keys() <= method.parameters:
        views = {kind: view for kind, view in loaded.items() if kind in method.parameters}
    if method.sentinel and "k" in views and "v" not in views:
        # BaseKVCacheMethod.process_weights_after_loading: k alone serves v.
        k = views["k"]
        views = {**views, "v": ScaleView(k.value, "k", k.tensor)}
    return LayerView(layer, **views)
