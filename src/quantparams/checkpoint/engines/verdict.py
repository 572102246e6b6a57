"""What an engine view means for a person: the engine's line, and its problems and warnings.

A layer that would run k or v at the default 1.0 is a problem where the
checkpoint means to have static scales: its config declares them, or other
layers have them. q and prob at 1.0 are warnings, as they are in the
engines' own logs. Every message says what the engine does: 1.0, k's
value, or not start.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..._errors import Problem
from .. import messages
from ..scheme import ModelConfig
from .model import EngineView, Failure, Ignored, ScaleView

__all__ = ["at_default", "engine_line", "failure_text", "judge"]


def _file(where: str) -> str:
    return where.rsplit("/", 1)[-1]


def failure_text(view: EngineView) -> str:
    failure = view.failure
    if failure is not None:
        return f"{view.title}: will not start: {_raised(failure)}"
    if view.fp8_failure is not None:
        return messages.fails_with_fp8(view.title, _raised(view.fp8_failure))
    return f"{view.title}: starts"


def _raised(failure: Failure) -> str:
    return f"{failure.error} in {_file(failure.where)}: {failure.message}"


def _summary(kinds: str, views: Sequence[ScaleView], total: int) -> str:
    loaded = sum(view.source == "checkpoint" for view in views)
    from_k = sum(view.source == "k" for view in views)
    if loaded == total:
        return f"{kinds} from the checkpoint in {total} of {total} attention layers"
    parts = []
    if loaded:
        parts.append(f"from the checkpoint in {loaded} of {total}")
    if from_k:
        parts.append(f"k's value in {from_k} of {total}")
    rest = total - loaded - from_k
    if rest == total:
        return f"{kinds} 1.0 in all {total} (not in the checkpoint)"
    if rest:
        parts.append(f"1.0 in {rest}")
    return f"{kinds} " + ", ".join(parts)


def engine_line(view: EngineView) -> str:
    """One line: whether the engine starts, and where each scale it uses comes from."""
    if not view.starts or view.fp8_failure is not None:
        return failure_text(view)
    total = len(view.layers)
    if view.kv_cache_method is None:
        return (
            f"{view.title}: starts; no KV-cache method: q, k, v and prob 1.0 in all {total} attention layers"
        )
    columns = {kind: [layer.scale(kind) for layer in view.layers] for kind in ("q", "k", "v", "prob")}
    k, v = _summary("k", columns["k"], total), _summary("v", columns["v"], total)
    kv = [f"k and v{k[1:]}"] if k[1:] == v[1:] else [k, v]
    others = [
        _summary(kind, columns[kind], total) if kind in view.parameters else f"{kind} 1.0"
        for kind in ("q", "prob")
    ]
    return f"{view.title}: starts; " + "; ".join([*kv, *others])


def judge(
    view: EngineView,
    failed_at: str | None,
    config: ModelConfig,
    where: str,
    problems: list[Problem],
    warnings: list[Problem],
) -> None:
    """The problems and warnings of one engine's view; `where` is the checkpoint's layer-wide path."""
    if view.backend:
        message = messages.transformers_backend(view.title, config.architecture or "", view.backend)
        warnings.append(Problem(where, message))
    failure = view.failure or view.fp8_failure
    if failure is not None:
        path = failed_at or ("config.json" if failure.error != "AssertionError" else where)
        problems.append(Problem(path, failure_text(view)))
        return
    scheme = config.kv_cache_scheme
    static = scheme is not None and not scheme.dynamic
    any_kv = any(layer.scale(kind).source != "default" for layer in view.layers for kind in ("k", "v"))
    ignored = view.ignored
    if view.kv_cache_method is None:
        if ignored:
            problems.append(Problem(where, messages.no_method(view.title, len(ignored), ignored[0].where)))
        return
    if view.requires:
        warnings.append(Problem(where, messages.requires(view.title, view.requires)))
    if any_kv and not view.fp8_by_default:
        warnings.append(Problem(where, messages.fp8_only_when_asked(view.title)))
    if not (static or any_kv or ignored):
        return
    problems.extend(at_default(view, where))
    for kind in ("q", "prob"):
        column = [layer.scale(kind) for layer in view.layers]
        defaults = [layer.layer for layer, scale in zip(view.layers, column) if scale.source == "default"]
        if defaults and len(defaults) < len(column):
            warnings.append(Problem(where, messages.partly_default(view.title, defaults, kind)))


def at_default(view: EngineView, where: str) -> list[Problem]:
    """A problem for each set of layers the engine runs with k, v or both at the default 1.0."""
    by_lack: dict[str, list[int]] = {"k and v": [], "k": [], "v": []}
    for layer in view.layers:
        lacking = _lacks(layer.k, layer.v)
        if lacking is not None:
            by_lack[lacking].append(layer.layer)
    return [
        Problem(where, messages.runs_at_default(view.title, layers, lacking, _why(view.ignored, layers)))
        for lacking, layers in by_lack.items()
        if layers
    ]


def _why(ignored: Sequence[Ignored], layers: list[int]) -> str:
    """Why `layers` have no k or v: their tensors are not read, or there are none."""
    unread = [item for item in ignored if item.layer in layers and item.kind in ("k", "v", "kv")]
    if not unread:
        return "no such scale in the checkpoint"
    more = f" (and {len(unread) - 1} more)" if len(unread) > 1 else ""
    return f"{unread[0].where}{more} is not read: {unread[0].reason}"


def _lacks(k: ScaleView, v: ScaleView) -> str | None:
    if k.source == "default" and v.source == "default":
        return "k and v"
    if k.source == "default":
        return "k"
    if v.source == "default":
        return "v"
    return None
