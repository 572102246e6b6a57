"""The engines' view of a checkpoint's KV-cache scales, one module per engine release.

`RELEASES` names the modelled releases by engine; `EngineViews` reads a
checkpoint through each of them, when asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

from .model import EngineView, Failure, LayerView, Release, ScaleView
from .sglang_0_5_23 import RELEASE as SGLANG
from .view import CheckpointFacts, engine_view
from .vllm_0_33_0 import RELEASE as VLLM

__all__ = [
    "ENGINES",
    "RELEASES",
    "CheckpointFacts",
    "EngineView",
    "EngineViews",
    "Failure",
    "LayerView",
    "Release",
    "ScaleView",
]

RELEASES: dict[str, Release] = {"vllm": VLLM, "sglang": SGLANG}
ENGINES = tuple(RELEASES)


class EngineViews(Sequence[EngineView]):
    """Every modelled release's view of one checkpoint, in the order of `ENGINES`.

    Each view is worked out the first time it is asked for: a check names one
    engine, and each other one would cost as much again.
    """

    __slots__ = ("_facts", "_views")

    def __init__(self, facts: CheckpointFacts) -> None:
        self._facts = facts
        self._views: dict[str, tuple[EngineView, str | None]] = {}

    def of(self, engine: str) -> tuple[EngineView, str | None]:
        """`engine`'s view, and where its failure lies (a tensor's path, or None)."""
        view = self._views.get(engine)
        if view is None:
            view = self._views[engine] = engine_view(RELEASES[engine], self._facts)
        return view

    @overload
    def __getitem__(self, index: int) -> EngineView: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[EngineView, ...]: ...

    def __getitem__(self, index: int | slice) -> EngineView | tuple[EngineView, ...]:
        if isinstance(index, slice):
            return tuple(self.of(engine)[0] for engine in ENGINES[index])
        return self.of(ENGINES[index])[0]

    def __len__(self) -> int:
        return len(ENGINES)

    def __iter__(self) -> Iterator[EngineView]:
        return (self.of(engine)[0] for engine in ENGINES)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))
