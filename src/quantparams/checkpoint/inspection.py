"""`inspect_checkpoint`: which KV-cache scales a checkpoint holds, layer by layer, and what an engine will load."""

from __future__ import annotations

import os
import re

from .._errors import Problem
from .folder import Layout, UnreadableCheckpoint, find_layout, resolve_folder
from .naming import VLLM_RELEASE, accepted_names
from .report import CheckpointInspection, CheckpointReport, LayerReport, ScaleEntry
from .scan import FoundScale, Scan, scan
from .scheme import MODELOPT_NAME, ModelConfig, read_configs
from .text import layers_text, quote_list

__all__ = ["inspect_checkpoint", "none_found"]

_LAYER_IN_PATH = re.compile(r"\.layers\.([0-9]+)\.")
_SCHEME_PLACES = (
    "config.json quantization_config.kv_cache_scheme, export.kv_cache_group or kv_cache_quant_method, "
    f"or {MODELOPT_NAME} kv_cache_quant_algo"
)


def inspect_checkpoint(path: str | os.PathLike[str]) -> CheckpointInspection:
    """The KV-cache scales of the safetensors checkpoint in folder `path`, layer by layer.

    Reads the configs, the safetensors headers and the scale tensors' bytes,
    never the weights. Never raises for what is in the folder: every problem
    (what an engine would load wrongly or not at all) is in `problems`, every
    doubt in `warnings`. `report` is None when the folder cannot be read.
    """
    problems: list[Problem] = []
    warnings: list[Problem] = []
    try:
        folder = resolve_folder(path)
        config = read_configs(folder, problems)
        layout = find_layout(folder, problems)
    except UnreadableCheckpoint as error:
        reason = error.strerror or str(error)
        return CheckpointInspection(os.fspath(path), (Problem(os.fspath(path), reason),), (), None)
    before = len(problems)
    found = scan(layout, config, problems)
    layers = _check(layout, config, found, problems, warnings)
    problems[before:] = sorted(problems[before:], key=lambda problem: _position(problem, layout))
    report = CheckpointReport(config.model_type, config.num_hidden_layers, config.kv_cache_scheme, layers)
    return CheckpointInspection(os.fspath(path), tuple(problems), tuple(warnings), report)


def _position(problem: Problem, layout: Layout) -> tuple[int, int]:
    """Unreadable files first, then tensors layer by layer, then what concerns the whole folder."""
    if problem.path == layout.where:
        return 2, 0
    layer = _LAYER_IN_PATH.search(problem.path)
    return (1, int(layer[1])) if layer else (0, 0)


def none_found(found: Scan, layout: Layout, config: ModelConfig) -> str:
    """Why no scale was found: what was looked at, under which config, what came close."""
    what = {
        "index": "its weight_map",
        "files": "the file" if len(layout.files) == 1 else f"the {len(layout.files)} files",
    }
    message = (
        f"found no KV-cache scale tensors among the {found.tensor_count} tensors of "
        f"{what.get(layout.kind, 'the files')} (accepted names: {accepted_names()})"
    )
    if found.unknown:
        message += f"; not accepted: {quote_list(found.unknown)}"
    scheme = config.kv_cache_scheme
    if scheme is None:
        message += f"; no config declares a KV-cache scheme ({_SCHEME_PLACES})"
    else:
        kind = "dynamic" if scheme.dynamic else "static"
        message += f"; {scheme.source} declares {kind} KV-cache quantization"
    return message


def _check(
    layout: Layout, config: ModelConfig, found: Scan, problems: list[Problem], warnings: list[Problem]
) -> tuple[LayerReport, ...]:
    scheme = config.kv_cache_scheme
    for where in found.unknown:
        problems.append(Problem(where, "named like a KV-cache scale, but no engine reads it"))
    if not found.scales:
        if (
            found.unreadable_files == 0
            and not layout.broken_index
            and not (scheme is not None and scheme.dynamic)
        ):
            problems.append(Problem(layout.where, none_found(found, layout, config)))
        return tuple(LayerReport(layer) for layer in range(config.num_hidden_layers or 0))

    by_layer: dict[int, dict[str, FoundScale]] = {}
    for scale in found.scales:
        _unread(scale, config, problems)
        kinds = by_layer.setdefault(scale.named.layer, {})
        for kind in ("k", "v") if scale.named.kind == "kv" else (scale.named.kind,):
            if kind in kinds:
                first = kinds[kind]
                message = (
                    f"duplicate KV-cache scale for layer {scale.named.layer}: "
                    f"a {first.named.kind} scale was already found in {first.where}"
                )
                problems.append(Problem(scale.where, message))
            else:
                kinds[kind] = scale
        # A prob scale is one per layer under every strategy.
        per_head_kind = scale.named.kind != "prob"
        if (
            scheme is not None
            and scale.sound
            and per_head_kind
            and scale.per_head != (scheme.strategy == "attn_head")
        ):
            declared = "one scale per head" if scheme.strategy == "attn_head" else "per-tensor scales"
            held = (
                f"one scale per head (shape {list(scale.shape)})" if scale.per_head else "a per-tensor scale"
            )
            problems.append(Problem(scale.where, f"holds {held}, but {scheme.source} declares {declared}"))

    count = config.num_hidden_layers if config.num_hidden_layers is not None else max(by_layer) + 1
    missing = [
        layer
        for layer in range(count)
        if not ({"k", "v"} & by_layer.get(layer, {}).keys()) and layer not in found.unread_layers
    ]
    if missing:
        message = (
            f"no k or v scale for {layers_text(missing)}: the engine will use 1.0 (layers 0..{count - 1})"
        )
        problems.append(Problem(layout.where, message))
    for layer, kinds in sorted(by_layer.items()):
        if layer >= count:
            continue
        for have, lack in (("k", "v"), ("v", "k")):
            if have in kinds and lack not in kinds:
                message = (
                    f"layer {layer} has a {have} scale but no {lack} scale "
                    f"(a fused kv_scale serves both; vLLM would use the {have} scale for {lack})"
                )
                problems.append(Problem(kinds[have].where, message))
    _warn(layout, config, found, by_layer, count, warnings)
    layers = sorted(set(range(count)) | set(by_layer))
    return tuple(_layer_report(layer, by_layer.get(layer, {})) for layer in layers)


def _unread(scale: FoundScale, config: ModelConfig, problems: list[Problem]) -> None:
    named = scale.named
    configs = named.naming.vllm_configs
    if named.vllm_name is None and not named.sglang and configs is not None:
        message = (
            f"named like a KV-cache scale, but no engine reads it under this config: vLLM {VLLM_RELEASE} "
            f"maps it only under {' and '.join(sorted(configs))} configs (this is "
            f"{config.family or 'no quantization config'}), SGLang not at all; "
            f"layer {named.layer}'s {named.kind} scale will be 1.0"
        )
        problems.append(Problem(scale.where, message))


def _warn(
    layout: Layout,
    config: ModelConfig,
    found: Scan,
    by_layer: dict[int, dict[str, FoundScale]],
    count: int,
    warnings: list[Problem],
) -> None:
    values = [value for scale in found.scales if scale.sound for value in scale.values or ()]
    if values and all(value == 1.0 for value in values):
        warnings.append(Problem(layout.where, "every KV-cache scale is exactly 1.0: an uncalibrated export?"))
    if config.kv_cache_scheme is None:
        message = (
            f"the checkpoint has KV-cache scales, but no config declares a KV-cache scheme ({_SCHEME_PLACES})"
        )
        warnings.append(Problem(layout.where, message))
    past = [layer for layer in by_layer if layer >= count]
    if past:
        message = (
            f"{layers_text(sorted(past))} past {config.layers_source} = {count} "
            "(MTP or draft layers?): reported, not checked as model layers"
        )
        warnings.append(Problem(layout.where, message))


def _layer_report(layer: int, kinds: dict[str, FoundScale]) -> LayerReport:
    def entry(kind: str) -> ScaleEntry | None:
        scale = kinds.get(kind)
        if scale is None:
            return None
        return ScaleEntry(
            scale.file,
            scale.named.tensor,
            scale.dtype,
            scale.shape,
            scale.values or (),
            scale.named.vllm_name,
        )

    return LayerReport(layer, entry("q"), entry("k"), entry("v"), entry("prob"))
