"""`validate DIR` and `inspect DIR`: a checkpoint folder's KV-cache scales, as a person or a program reads them.

Problems go to stderr as `DIR: where: message`, warnings as
`DIR: warning: where: message`; warnings never change the exit status.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from .. import Problem
from ..checkpoint import engine_line, inspect_checkpoint, layer_as_n, tensor_path
from .exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from .output import Line, out, problems_json
from .text import g, numbers_text, shown, shown_table, text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .. import QuantParamSchema
    from ..checkpoint import CheckpointInspection, EngineView, LayerReport, LayerView, ScaleEntry, ScaleView

__all__ = ["FolderCheck", "FolderInspection", "check_folder", "checkpoint_scales", "inspect_folder"]

_KINDS = ("k", "v", "q", "prob")
_HINT = "--limit 0 shows all"


def _inspect(path: str, engines: Sequence[str]) -> CheckpointInspection:
    return inspect_checkpoint(path, engines=engines)


def _status(inspection: CheckpointInspection) -> int:
    # Input that cannot be read is exit 2, as for a scale file.
    if inspection.report is None or inspection.unreadable:
        return EXIT_USAGE
    return EXIT_INVALID if inspection.problems else EXIT_OK


def _messages(path: str, inspection: CheckpointInspection) -> list[Line]:
    if inspection.report is None:
        return [Line(f"{path}: cannot read: {inspection.problems[0].message}", err=True)]
    return [
        *(Line(f"{path}: {line}", err=True) for line in grouped(inspection.problems)),
        *(Line(f"{path}: warning: {line}", err=True) for line in grouped(inspection.warnings)),
    ]


def grouped(problems: Sequence[Problem]) -> list[str]:
    """The problems as lines, the same problem of several layers once, with its layers as runs."""
    groups: dict[tuple[str, str], list[tuple[int, Problem]]] = {}
    for problem in problems:
        layer = problem.layer
        if layer is None:
            groups.setdefault((problem.path, problem.message), []).append((-1, problem))
            continue
        path = layer_as_n(problem.path, layer)
        message = re.sub(rf"\blayer {layer}\b", "layer N", problem.message)
        groups.setdefault((path, message), []).append((layer, problem))
    lines = []
    for (path, message), members in groups.items():
        layers = {layer for layer, _ in members}
        if len(layers) == 1:
            # One layer, or none: each problem as it is.
            lines += [str(problem) for _, problem in members]
        else:
            lines.append(f"{path} (layers {numbers_text(layers)}): {message}")
    return lines


def checkpoint_scales(
    path: str,
) -> tuple[dict[str, QuantParamSchema] | None, list[Problem], bool, str | None]:
    """For `diff`: the k, v and larger-of-the-two ("kv") scales vLLM uses in each attention layer
    of the checkpoint, as one-rank schemas (None when it will not start using them), its problems, whether it
    could be read, and why not when it could not be read at all."""
    from .. import FP8_DTYPE, KVCacheQuantSchema, QuantParamSchema

    inspection = _inspect(path, ("vllm",))
    model = inspection.report
    if model is None:
        return None, list(inspection.problems), False, f"cannot read: {inspection.problems[0].message}"
    view = inspection.engines[0]
    if not view.starts_with_scales:
        return None, list(inspection.problems), not inspection.unreadable, None
    columns = {kind: {layer.layer: layer.scale(kind).value for layer in view.layers} for kind in ("k", "v")}
    columns["kv"] = {layer: max(value, columns["v"][layer]) for layer, value in columns["k"].items()}
    schemas = {
        kind: QuantParamSchema(model.model_type, KVCacheQuantSchema(FP8_DTYPE, {0: layers}))
        for kind, layers in columns.items()
    }
    return schemas, list(inspection.problems), not inspection.unreadable, None


class FolderCheck(NamedTuple):
    """A checkpoint folder as `validate` found it."""

    path: str
    inspection: CheckpointInspection

    @property
    def status(self) -> int:
        return _status(self.inspection)

    def to_json(self) -> dict[str, Any]:
        """The folder's entry in `validate --json`."""
        inspection = self.inspection
        unreadable = inspection.report is None
        return {
            "path": self.path,
            "ok": inspection.ok,
            "error": inspection.problems[0].message if unreadable else None,
            "problems": [] if unreadable else problems_json(inspection.problems),
            "warnings": problems_json(inspection.warnings),
            "summary": _summary_json(inspection) if inspection.ok else None,
            **({} if inspection.read is None else {"read": inspection.read.to_json()}),
        }

    def to_text(self) -> list[Line]:
        ok = [Line(f"ok  {self.path}: {_summary(self.inspection)}")] if self.inspection.ok else []
        return [*ok, *_messages(self.path, self.inspection)]


def check_folder(path: str, engines: Sequence[str]) -> FolderCheck:
    return FolderCheck(path, _inspect(path, engines))


class FolderInspection(NamedTuple):
    """A checkpoint folder as `inspect` shows it: the views of `engines`, tables cut to `limit` rows."""

    path: str
    inspection: CheckpointInspection
    engines: Sequence[str]
    limit: int

    @property
    def status(self) -> int:
        return _status(self.inspection)

    def to_json(self) -> dict[str, Any]:
        return self.inspection.to_json()

    def to_text(self) -> list[Line]:
        inspection = self.inspection
        views = [view for view in inspection.engines if view.engine in self.engines]
        return [*out(_render(inspection, views, self.limit)), *_messages(self.path, inspection)]


def inspect_folder(path: str, engines: Sequence[str], limit: int) -> FolderInspection:
    return FolderInspection(path, _inspect(path, engines), engines, limit)


def _with_scales(inspection: CheckpointInspection) -> int:
    layers = inspection.report.layers if inspection.report is not None else ()
    return sum(1 for layer in layers if layer.k is not None and layer.v is not None)


def _scheme_text(inspection: CheckpointInspection) -> str:
    scheme = inspection.report.kv_cache_scheme if inspection.report is not None else None
    if scheme is None:
        return "none declared"
    kind = "dynamic" if scheme.dynamic else "static"
    strategy = "per head" if scheme.strategy == "attn_head" else "per tensor"
    return f"{scheme.config}, {kind}, {strategy} ({scheme.source})"


def _summary(inspection: CheckpointInspection) -> str:
    model = inspection.report
    model_type = text(model.model_type if model is not None else None)
    read = "" if inspection.read is None else f"; {inspection.read.text()}"
    attention = next((len(view.layers) for view in inspection.engines if view.starts), None)
    layers = "" if attention is None else f"{attention} attention layers, "
    values = [
        value
        for layer in (model.layers if model is not None else ())
        for entry in (layer.k, layer.v)
        if entry is not None
        for value in entry.values
    ]
    spread = f" from {g(min(values))} to {g(max(values))}" if values else ""
    return (
        f"checkpoint, model_type {model_type}, {layers}k and v scales in {_with_scales(inspection)} "
        f"layers{spread}, KV-cache scheme {_scheme_text(inspection)}{read}"
    )


def _summary_json(inspection: CheckpointInspection) -> dict[str, Any]:
    model = inspection.report
    return {
        "model_type": model.model_type if model is not None else None,
        "num_hidden_layers": model.num_hidden_layers if model is not None else None,
        "layers_with_k_and_v": _with_scales(inspection),
    }


def _cell(entry: ScaleEntry | None) -> str:
    if entry is None:
        return "-"
    if not entry.values:
        return "unread"
    if len(entry.values) == 1:
        return g(entry.values[0])
    return f"{len(entry.values)} heads, max {g(max(entry.values))}"


def _render(inspection: CheckpointInspection, views: list[EngineView], limit: int) -> list[str]:
    model = inspection.report
    if model is None:
        return []
    lines = [
        f"checkpoint         {inspection.path}",
        f"model_type         {text(model.model_type)}",
        f"num_hidden_layers  {'-' if model.num_hidden_layers is None else model.num_hidden_layers}",
        f"KV-cache scheme    {_scheme_text(inspection)}",
        *([] if inspection.read is None else [f"read               {inspection.read.text()}"]),
        "",
    ]
    if not model.layers:
        return [*lines, "layers             none with scales"]
    lines += [*(engine_line(view) for view in views), ""]
    used = next((view for view in views if view.starts_with_scales and view.layers), None)
    if used is not None:
        lines += [f"the values {used.title} uses, by attention layer (default: not from the checkpoint):"]
        lines += shown_table(["layer", *_KINDS], used.layers, _used_row, limit=limit, hint=_HINT)
        lines += ["", "the scales stored in the checkpoint:"]
    lines += shown_table(["layer", *_KINDS], model.layers, _row, limit=limit, hint=_HINT)
    names = _names(model.layers)
    if names:
        lines += ["", "tensors (first layer with each) and the vLLM parameter each becomes:"]
        lines += shown(names, indent="  ")
    return lines


def _used(view: ScaleView) -> str:
    if view.source == "default":
        return "1.0 default"
    value = g(view.value)
    if view.source == "k":
        return f"{value} (k's)"
    return value if view.per_head is None else f"{value} (max of {len(view.per_head)} heads)"


def _used_row(layer: LayerView) -> list[str]:
    return [str(layer.layer), *(_used(layer.scale(kind)) for kind in _KINDS)]


def _row(layer: LayerReport) -> list[str]:
    return [str(layer.layer), *(_cell(getattr(layer, kind)) for kind in _KINDS)]


def _names(layers: tuple[LayerReport, ...]) -> list[str]:
    """Each naming once, at the first layer that has it: `k, v: file["tensor"] -> parameter`."""
    kinds: dict[str, list[str]] = {}
    lines: dict[str, str] = {}
    for layer in layers:
        for kind in _KINDS:
            entry: ScaleEntry | None = getattr(layer, kind)
            if entry is None:
                continue
            general = entry.tensor.replace(f".{layer.layer}.", ".N.", 1)
            if general not in lines:
                vllm_name = entry.vllm_name or "not read by vLLM"
                lines[general] = f"{tensor_path(entry.file, entry.tensor)} -> {vllm_name}"
            if kind not in kinds.setdefault(general, []):
                kinds[general].append(kind)
    return [f"{', '.join(kinds[general])}: {line}" for general, line in lines.items()]
