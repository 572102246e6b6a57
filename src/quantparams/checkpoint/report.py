"""What `inspect_checkpoint` says of a checkpoint: frozen attrs objects and their JSON form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from .._errors import Problem
from .engines.model import EngineView
from .hub.target import HubRead
from .scheme import KVCacheScheme

__all__ = ["CheckpointInspection", "CheckpointReport", "LayerReport", "ScaleEntry"]


# Not slotted, as the engine views' records: a report makes one for each scale and
# layer, and a frozen slotted class sets each field through object.__setattr__.
@attrs.frozen(slots=False)
class ScaleEntry:
    """One scale tensor of a layer, as the checkpoint stores it."""

    file: str
    tensor: str
    dtype: str
    shape: tuple[int, ...]
    # One value for a per-tensor scale, one per head otherwise, as stored
    # (unsound ones too); empty when the tensor could not be read as a scale
    # (the problems say why).
    values: tuple[float, ...]
    # The attention parameter vLLM's mapper makes of the tensor, or None when
    # vLLM would not read it.
    vllm_name: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "tensor": self.tensor,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "values": list(self.values),
            "vllm_name": self.vllm_name,
        }


@attrs.frozen(slots=False)
class LayerReport:
    """The q, k, v and prob scales of one layer; a fused kv_scale fills both k and v."""

    layer: int
    q: ScaleEntry | None = None
    k: ScaleEntry | None = None
    v: ScaleEntry | None = None
    prob: ScaleEntry | None = None

    def to_json(self) -> dict[str, Any]:
        scales = {kind: getattr(self, kind) for kind in ("q", "k", "v", "prob")}
        return {
            "layer": self.layer,
            "scales": {kind: None if entry is None else entry.to_json() for kind, entry in scales.items()},
        }


@attrs.frozen
class CheckpointReport:
    model_type: str | None
    num_hidden_layers: int | None
    kv_cache_scheme: KVCacheScheme | None
    # In layer order: 0 up to num_hidden_layers - 1 (or the highest layer
    # with a scale), then any layer past them that has scales.
    layers: tuple[LayerReport, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "model_type": self.model_type,
            "num_hidden_layers": self.num_hidden_layers,
            "kv_cache_scheme": None if self.kv_cache_scheme is None else self.kv_cache_scheme.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }


@attrs.frozen
class CheckpointInspection:
    """What a checkpoint folder holds, layer by layer, and what is wrong with it.

    `report` is None when the folder cannot be read as a checkpoint at all;
    `problems` then says why.
    """

    path: str
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    report: CheckpointReport | None
    # What each engine release modelled makes of the checkpoint, in the order of `engines.RELEASES`.
    engines: Sequence[EngineView] = ()
    # For a Hugging Face Hub model id: where it was read from and what that cost; None for a folder.
    read: HubRead | None = None
    # Whether some file of the checkpoint could not be read at all (permissions, a FIFO, ...).
    unreadable: bool = False

    @property
    def ok(self) -> bool:
        return self.report is not None and not self.problems

    def to_json(self) -> dict[str, Any]:
        """The `inspect --json` document: `{"path", "ok", "problems", "warnings", "report", "engines"}`."""
        return {
            "path": self.path,
            "ok": self.ok,
            "problems": [problem.to_json() for problem in self.problems],
            "warnings": [warning.to_json() for warning in self.warnings],
            "report": None if self.report is None else self.report.to_json(),
            "engines": [view.to_json() for view in self.engines],
            **({} if self.read is None else {"read": self.read.to_json()}),
        }
