"""`inspect_checkpoint`: which KV-cache scales a checkpoint holds, layer by layer, and what an engine will load."""

from __future__ import annotations

import os
from collections.abc import Sequence

import attrs

from .._errors import Problem
from .engines import ENGINES, CheckpointFacts, EngineView, engine_views
from .engines.verdict import judge
from .folder import Layout, UnreadableCheckpoint, find_layout, resolve_folder
from .hub import HubError, hub_target, opened
from .layers import attention_layers, is_tower
from .outliers import scale_outliers
from .report import CheckpointInspection, CheckpointReport, LayerReport, ScaleEntry
from .scan import FoundScale, Scan, path_layer, scan
from .scheme import MODELOPT_NAME, ModelConfig, read_configs
from .text import layers_text, quote_list

__all__ = ["inspect_checkpoint", "none_found"]

_SCHEME_PLACES = (
    "config.json quantization_config.kv_cache_scheme, export.kv_cache_group or kv_cache_quant_method, "
    f"or {MODELOPT_NAME} kv_cache_quant_algo"
)


def inspect_checkpoint(
    path: str | os.PathLike[str], *, engines: Sequence[str] = ("vllm",)
) -> CheckpointInspection:
    """The KV-cache scales of the safetensors checkpoint in folder `path`, layer by layer,
    and what each engine in `engines` ("vllm", "sglang") makes of them.

    Reads the configs, the safetensors headers and the scale tensors' bytes,
    never the weights. Never raises for what is in the folder: every problem
    (an engine that will not start, a layer it runs with a default 1.0, a
    scale no engine reads...) is in `problems`, every doubt in `warnings`.
    Every engine modelled is in `engines`; the problems follow the ones
    named. `report` is None when the folder cannot be read.

    `path` may be a Hugging Face Hub model id, `org/name[@revision]`, when no
    such local path exists: the local cache's snapshot is read when it holds
    the files, else the Hub by range (`quantparams[hub]`), and `read` says
    what that cost.
    """
    unknown = [engine for engine in engines if engine not in ENGINES]
    if unknown:
        raise ValueError(f"unknown engine {unknown[0]!r}: expected one of {', '.join(ENGINES)}")
    target = hub_target(path)
    if target is None:
        return _inspect_folder(path, engines)
    try:
        with opened(target) as (folder, read):
            inspection = _inspect_folder(folder, engines)
    except HubError as error:
        return CheckpointInspection(os.fspath(path), (Problem(os.fspath(path), str(error)),), (), None)
    return attrs.evolve(inspection, path=os.fspath(path), read=read)


def _inspect_folder(path: str | os.PathLike[str], engines: Sequence[str]) -> CheckpointInspection:
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
    layers, facts, unjudged = _check(layout, config, found, problems, warnings)
    views = engine_views(facts, ENGINES)
    if found.scales and config.readable:
        for engine, (view, failed_at) in zip(ENGINES, views):
            if engine in engines:
                judge(_judged(view, unjudged), failed_at, config, layout.where, problems, warnings)
    problems[before:] = sorted(problems[before:], key=lambda problem: _position(problem, layout))
    report = CheckpointReport(config.model_type, config.num_hidden_layers, config.kv_cache_scheme, layers)
    engine_list = tuple(view for view, _ in views)
    return CheckpointInspection(
        os.fspath(path),
        tuple(problems),
        tuple(warnings),
        report,
        engine_list,
        unreadable=found.unreadable_input,
    )


def _judged(view: EngineView, unjudged: set[int]) -> EngineView:
    """The view without the layers whose scales are already reported unreadable or unsound."""
    if not unjudged:
        return view
    kept = tuple(layer for layer in view.layers if layer.layer not in unjudged)
    return attrs.evolve(view, layers=kept)


def _position(problem: Problem, layout: Layout) -> tuple[int, int]:
    """Unreadable files first, then tensors layer by layer, then what concerns the whole folder."""
    if problem.path == layout.where:
        return 2, 0
    layer = path_layer(problem.path)
    return (1, layer[0]) if layer else (0, 0)


def none_found(found: Scan, layout: Layout, config: ModelConfig) -> str:
    """Why no scale was found: what was looked at, under which config, what came close."""
    what = {
        "index": "its weight_map",
        "files": "the file" if len(layout.files) == 1 else f"the {len(layout.files)} files",
    }
    message = (
        f"found no KV-cache scale tensors among the {found.tensor_count} "
        f"tensor{'' if found.tensor_count == 1 else 's'} of {what.get(layout.kind, 'the files')}"
    )
    if found.unknown:
        message += f"; named like scales, but no engine reads them: {quote_list(found.unknown)}"
    scheme = config.kv_cache_scheme
    if scheme is None:
        message += "; no config declares a KV-cache scheme"
    else:
        kind = "dynamic" if scheme.dynamic else "static"
        message += f"; {scheme.source} declares {kind} KV-cache quantization"
    message += (
        ": calibrate the KV cache with a producer (llm-compressor, NVIDIA ModelOpt, AMD Quark), "
        "or serve without static scales (the engines use 1.0)"
    )
    return message


def _check(
    layout: Layout, config: ModelConfig, found: Scan, problems: list[Problem], warnings: list[Problem]
) -> tuple[tuple[LayerReport, ...], CheckpointFacts, set[int]]:
    """The layer reports, what the engines read, and the layers not to judge (their scales are reported already)."""
    scheme = config.kv_cache_scheme
    for where in found.unknown:
        problems.append(Problem(where, "named like a KV-cache scale, but no engine reads it"))
    towers = [scale for scale in found.scales if is_tower(scale.named.stack)]
    if towers:
        stacks = sorted({scale.named.stack for scale in towers})
        message = (
            f"{len(towers)} scale tensors of {quote_list(stacks)}, a vision, audio or MTP tower: "
            "reported apart, not checked as the language model's layers"
        )
        warnings.append(Problem(layout.where, message))
    language = [scale for scale in found.scales if not is_tower(scale.named.stack)]
    count = config.num_hidden_layers
    if count is None:
        count = max((scale.named.layer for scale in language), default=-1) + 1
    kept = attention_layers(config.text, count)
    keeps_cache = tuple(range(count)) if kept is None else kept
    model = [scale for scale in language if scale.named.layer < count]
    facts = CheckpointFacts(config, tuple(scale for scale in model if scale.values is not None), keeps_cache)
    unjudged = set(found.unread_layers) | {scale.named.layer for scale in model if not scale.sound}
    if found.unreadable_files and layout.kind != "index":
        # Without an index, an unreadable file's layers are unknown, not missing.
        unjudged.update(range(count))
    if not found.scales:
        if (
            found.unreadable_files == 0
            and not layout.broken_index
            and not (scheme is not None and scheme.dynamic)
        ):
            problems.append(Problem(layout.where, none_found(found, layout, config)))
        return tuple(LayerReport(layer) for layer in range(count)), facts, unjudged

    by_layer: dict[int, dict[str, FoundScale]] = {}
    for scale in language:
        kinds = by_layer.setdefault(scale.named.layer, {})
        for kind in ("k", "v") if scale.named.kind == "kv" else (scale.named.kind,):
            if kind in kinds:
                first = kinds[kind]
                message = (
                    f"duplicate KV-cache scale for layer {scale.named.layer}: "
                    f"a {first.named.kind} scale was already found in {first.where}"
                )
                problems.append(Problem(scale.where, message))
                unjudged.add(scale.named.layer)
            else:
                kinds[kind] = scale
    _warn(layout, config, found, by_layer, count, warnings)
    layers = sorted(set(range(count)) | set(by_layer))
    return tuple(_layer_report(layer, by_layer.get(layer, {})) for layer in layers), facts, unjudged


def _warn(
    layout: Layout,
    config: ModelConfig,
    found: Scan,
    by_layer: dict[int, dict[str, FoundScale]],
    count: int,
    warnings: list[Problem],
) -> None:
    warnings.extend(scale_outliers(by_layer, count, config.family))
    values = [value for scale in found.scales if scale.sound for value in scale.values or ()]
    if values and all(value == 1.0 for value in values):
        if config.family.startswith("modelopt"):
            message = (
                "every KV-cache scale is exactly 1.0: NVIDIA ModelOpt clamps FP8 KV-cache scales to at "
                "least 1.0, so this is what a calibration whose amax stayed below 448 exports"
            )
        else:
            message = "every KV-cache scale is exactly 1.0: an uncalibrated export?"
        warnings.append(Problem(layout.where, message))
    if not config.found:
        message = (
            "no config.json: the layer count, the attention layers and the quantization config are "
            "unknown, so a layer without scales cannot be told, and the engines are read as if the "
            "model had no quantization config"
        )
        warnings.append(Problem(layout.where, message))
    elif config.kv_cache_scheme is None:
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
