"""The engines' view of a checkpoint's KV-cache scales, one module per engine release.

`RELEASES` names the modelled releases by engine; `engine_views` reads a
checkpoint through each one asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import EngineView, Failure, LayerView, Release, ScaleView
from .sglang_0_5_23 import RELEASE as SGLANG
from .view import CheckpointFacts, engine_view
from .vllm_0_33_0 import RELEASE as VLLM

__all__ = [
    "ENGINES",
    "RELEASES",
    "CheckpointFacts",
    "EngineView",
    "Failure",
    "LayerView",
    "Release",
    "ScaleView",
    "engine_views",
]

RELEASES: dict[str, Release] = {"vllm": VLLM, "sglang": SGLANG}
ENGINES = tuple(RELEASES)


def engine_views(facts: CheckpointFacts, engines: Sequence[str]) -> list[tuple[EngineView, str | None]]:
    """Each engine's view of the checkpoint, with where its failure lies."""
    return [engine_view(RELEASES[engine], facts) for engine in engines]
