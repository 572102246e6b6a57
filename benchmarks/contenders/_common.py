"""Pieces the contender modules share: cold-start source, VERSION, the floors' `scales`.

Kept to the standard library's cheapest corners, because a cold start imports
this module too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

_COLD_START = """\
import sys
from contenders import {name} as contender
path, tp_size, tp_rank, layers, model_type = sys.argv[1:6]
ctx = {{"tp_size": int(tp_size), "tp_rank": int(tp_rank), "num_hidden_layers": int(layers), "model_type": model_type}}
with open(path, "rb") as file:
    contender.load(file.read(), ctx)
"""


def cold_start_code(name: str) -> str:
    """The source a fresh interpreter (cwd `benchmarks/`) runs to import contender `name` and load one file.

    The same lines for every contender, so that the only difference between two
    cold starts is the contender's own imports, class definitions and first load.
    """
    return _COLD_START.format(name=name)


def lazy_version(distributions: tuple[str, ...]) -> Callable[[str], str]:
    """A module `__getattr__` (PEP 562) that answers `VERSION` on first use.

    `importlib.metadata` costs tens of milliseconds to import; reading versions
    eagerly would add that to every contender's cold start.
    """

    def module_getattr(name: str) -> str:
        if name != "VERSION":
            raise AttributeError(name)
        from importlib.metadata import version

        return ", ".join(f"{dist} {version(dist)}" for dist in distributions)

    return module_getattr


def python_version() -> str:
    """The running interpreter's version, for contenders that are part of it."""
    return ".".join(map(str, sys.version_info[:3]))


def scales_of_parsed_json(obj: Any) -> dict[int, dict[int, float]]:
    """`{rank: {layer: scale}}` from a plain parsed document (the floors' `scales`)."""
    sf = obj["kv_cache"]["scaling_factor"]
    return {int(rank): {int(layer): scale for layer, scale in layers.items()} for rank, layers in sf.items()}
