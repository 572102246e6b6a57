"""`inspect_checkpoint`: which KV-cache scales a checkpoint holds, layer by layer, and what an engine will load."""

from __future__ import annotations

import os
from collections.abc import Sequence

import attrs

from .._errors import Problem
from . import messages
from .engines import ENGINES, CheckpointFacts, EngineView, EngineViews
from .engines.verdict import judge
from .folder import Layout, UnreadableCheckpoint, find_layout, resolve_folder
from .grouping import by_layer
from .hub import HubError, hub_target, opened
from .layers import attention_layers, is_tower
from .outliers import scale_outliers
from .report import CheckpointInspection, CheckpointReport, LayerReport, ScaleEntry
from .scan import FoundScale, Scan, scan
from .scheme import ModelConfig, read_configs

__all__ = ["Examined", "examine", "inspect_checkpoint"]


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
    try:
        folder = resolve_folder(path)
        config = read_configs(folder, problems)
        layout = find_layout(folder, problems)
    except UnreadableCheckpoint as error:
        reason = error.strerror or str(error)
        return CheckpointInspection(os.fspath(path), (Problem(os.fspath(path), reason),), (), None)
    examined = examine(layout, config, problems, engines)
    return CheckpointInspection(
        os.fspath(path),
        examined.problems,
        examined.warnings,
        examined.report,
        examined.views,
        unreadable=examined.found.unreadable_input,
    )


@attrs.frozen
class Examined:
    """A checkpoint read and judged: what `inspect_checkpoint` reports and `extract` writes from."""

    config: ModelConfig
    found: Scan
    # Every problem, those of reading the configs and the layout first.
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    report: CheckpointReport
    # Every engine release modelled, in the order of `engines.RELEASES`.
    views: EngineViews
    # The model's layers: config.json's count, else up to the highest layer with scales.
    layer_count: int


def examine(
    layout: Layout, config: ModelConfig, problems: Sequence[Problem], engines: Sequence[str]
) -> Examined:
    """The scales of `layout` read and judged by the engines named in `engines`;
    `problems` are those already found reading `config` and `layout`."""
    found_problems = list(problems)
    warnings: list[Problem] = []
    before = len(found_problems)
    found = scan(layout, config, found_problems)
    layers, facts, unjudged, layer_count = _check(layout, config, found, found_problems, warnings)
    views = EngineViews(facts)
    if found.scales and config.readable:
        for engine in ENGINES:
            if engine in engines:
                view, failed_at = views.of(engine)
                judge(_judged(view, unjudged), failed_at, config, layout.where, found_problems, warnings)
    found_problems[before:] = sorted(found_problems[before:], key=lambda problem: _position(problem, layout))
    report = CheckpointReport(config.model_type, config.num_hidden_layers, config.kv_cache_scheme, layers)
    return Examined(
        config,
        found,
        tuple(found_problems),
        tuple(warnings),
        report,
        views,
        layer_count,
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
    return (0, 0) if problem.layer is None else (1, problem.layer)


def _check(
    layout: Layout, config: ModelConfig, found: Scan, problems: list[Problem], warnings: list[Problem]
) -> tuple[tuple[LayerReport, ...], CheckpointFacts, set[int], int]:
    """The layer reports, what the engines read, the layers not to judge (their scales are
    reported already), and the model's layer count."""
    scheme = config.kv_cache_scheme
    for where in found.unknown:
        problems.append(Problem(where, messages.UNREAD_NAME, layer=found.unknown_layers.get(where)))
    towers: list[FoundScale] = []
    language: list[FoundScale] = []
    # A checkpoint's scales lie in a stack or two.
    tower_stacks = {stack: is_tower(stack) for stack in {scale.named.stack for scale in found.scales}}
    for scale in found.scales:
        (towers if tower_stacks[scale.named.stack] else language).append(scale)
    if towers:
        stacks = sorted(stack for stack, tower in tower_stacks.items() if tower)
        warnings.append(Problem(layout.where, messages.towers(len(towers), stacks)))
    count = config.num_hidden_layers
    if count is None:
        count = max((scale.named.layer for scale in language), default=-1) + 1
    kept = attention_layers(config.text, count)
    keeps_cache = tuple(range(count)) if kept is None else kept
    model = [scale for scale in language if scale.named.layer < count]
    facts = CheckpointFacts(
        config, tuple([scale for scale in model if scale.values is not None]), keeps_cache
    )
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
            problems.append(Problem(layout.where, messages.none_found(found, layout, config)))
        return tuple(LayerReport(layer) for layer in range(count)), facts, unjudged, count

    grouped, duplicated = by_layer(language, problems)
    unjudged |= duplicated
    _warn(layout, config, found, grouped, count, warnings)
    layers = sorted(set(range(count)) | set(grouped))
    return tuple(_layer_report(layer, grouped.get(layer, {})) for layer in layers), facts, unjudged, count


def _warn(
    layout: Layout,
    config: ModelConfig,
    found: Scan,
    by_layer: dict[int, dict[str, FoundScale]],
    count: int,
    warnings: list[Problem],
) -> None:
    warnings.extend(scale_outliers(by_layer, count, config.family))
    values = (value for scale in found.scales if scale.sound for value in scale.values or ())
    if next(values, None) == 1.0 and all(value == 1.0 for value in values):
        warnings.append(Problem(layout.where, messages.all_ones(config)))
    if not config.found:
        warnings.append(Problem(layout.where, messages.NO_CONFIG))
    elif config.kv_cache_scheme is None:
        warnings.append(Problem(layout.where, messages.NO_SCHEME))
    past = [layer for layer in by_layer if layer >= count]
    if past:
        warnings.append(Problem(layout.where, messages.past_count(sorted(past), config, count)))


def _layer_report(layer: int, kinds: dict[str, FoundScale]) -> LayerReport:
    q, k, v, prob = kinds.get("q"), kinds.get("k"), kinds.get("v"), kinds.get("prob")
    # A fused kv scale fills both k and v with one entry.
    k_entry = None if k is None else _entry(k)
    v_entry = k_entry if v is k else None if v is None else _entry(v)
    return LayerReport(
        layer,
        None if q is None else _entry(q),
        k_entry,
        v_entry,
        None if prob is None else _entry(prob),
    )


def _entry(scale: FoundScale) -> ScaleEntry:
    named = scale.named
    return ScaleEntry(scale.file, named.tensor, scale.dtype, scale.shape, scale.values or (), named.vllm_name)
