"""Importing the contender modules, and the shape the harness expects of them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol, cast

from contenders import NAMES


class Contender(Protocol):
    """The interface every module in `benchmarks/contenders/` provides."""

    NAME: str
    VERSION: str
    CHECKS: bool
    COLD_START_CODE: str
    load: Callable[[bytes, dict[str, Any]], Any]
    revalidate: Callable[[Any, dict[str, Any]], None]
    dump: Callable[[Any], bytes]
    scales: Callable[[Any], dict[int, dict[int, float]]]


class MissingLibrary(RuntimeError):
    """A contender's library is not installed: the harness refuses to run part of the field."""


def import_all() -> list[Contender]:
    """Every contender, in report order. Raises `MissingLibrary` naming what to install."""
    modules = []
    for name in NAMES:
        try:
            module = importlib.import_module(f"contenders.{name}")
        except ImportError as error:
            raise MissingLibrary(
                f"contender {name} cannot be imported ({error}); install the bench extra: "
                "python -m pip install -e '.[bench]'"
            ) from error
        modules.append(cast(Contender, module))
    return modules
