"""The speed targets quantparams is held to, and how one run's ratios compare with them.

Every ratio divides quantparams' median by another contender's, both measured
in the same run. Re-validation and dump are held to the worst ratio 0.1 had
on any document of a full run, rounded up; engine start has no target and
is reported. A target whose documents this run did not measure (`--quick`
measures other sizes) says so instead of a verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .isolated import BARE
from .results import Results

LIBRARY = "quantparams"
BASELINE = "pydantic_lax"
FLOOR = "orjson_floor"
EXAMPLE = "examples/llama-tp2-32layers.json"
FULL_RUN_DOCUMENTS = ("1x32", "8x80", "64x128", "256x1024", EXAMPLE)


@dataclass(frozen=True)
class Measured:
    """One ratio from the run, and where it came from when that is not the target's own document."""

    ratio: float
    where: str = ""


@dataclass(frozen=True)
class Target:
    """A ratio of quantparams' time to a contender's, and the most it may be (None: reported only)."""

    job: str
    document: str
    ratio: str
    limit: float | None
    measure: Callable[[Results], Measured | None]


def _warm(job: str, document: str, against: str) -> Callable[[Results], Measured | None]:
    def measure(results: Results) -> Measured | None:
        stats = results.timings.get(job, {}).get(document)
        if not stats:
            return None
        return Measured(stats[LIBRARY].median_ns / stats[against].median_ns)

    return measure


def _worst(job: str) -> Callable[[Results], Measured | None]:
    def measure(results: Results) -> Measured | None:
        by_doc = results.timings.get(job, {})
        if not all(label in by_doc for label in FULL_RUN_DOCUMENTS):
            return None
        return max(
            (
                Measured(by_doc[label][LIBRARY].median_ns / by_doc[label][BASELINE].median_ns, label)
                for label in FULL_RUN_DOCUMENTS
            ),
            key=lambda m: m.ratio,
        )

    return measure


def _cold(results: Results) -> Measured | None:
    if results.cold_doc != "8x80":
        return None
    bare = results.cold[BARE].median_ns
    return Measured((results.cold[LIBRARY].median_ns - bare) / (results.cold[BASELINE].median_ns - bare))


def _engine(how: str) -> Callable[[Results], Measured | None]:
    def measure(results: Results) -> Measured | None:
        stats = results.engine.get(how)
        if results.engine_doc != "8x80" or not stats:
            return None
        return Measured(stats[LIBRARY].median_ns / stats[BASELINE].median_ns)

    return measure


_OF_PYDANTIC = f"time x {BASELINE}"
_ENGINE = "8x80, 8 ranks"
_TOTAL = f"total time x {BASELINE}"
TARGETS = (
    Target("warm load", "1x32", _OF_PYDANTIC, 1.0, _warm("load", "1x32", BASELINE)),
    Target("warm load", EXAMPLE, _OF_PYDANTIC, 1.0, _warm("load", EXAMPLE, BASELINE)),
    Target("warm load", "8x80", _OF_PYDANTIC, 1.2, _warm("load", "8x80", BASELINE)),
    Target("warm load", "64x128", _OF_PYDANTIC, 1.2, _warm("load", "64x128", BASELINE)),
    Target("warm load", "256x1024", _OF_PYDANTIC, 1.3, _warm("load", "256x1024", BASELINE)),
    Target("warm load", "256x1024", f"time x {FLOOR}", 1.1, _warm("load", "256x1024", FLOOR)),
    Target("cold start", "8x80", f"extra time x {BASELINE}", 0.35, _cold),
    Target("engine start, sequential", _ENGINE, _TOTAL, None, _engine("sequential")),
    Target("engine start, concurrent", _ENGINE, _TOTAL, None, _engine("concurrent")),
    Target("re-validate", "worst document", _OF_PYDANTIC, 0.12, _worst("revalidate")),
    Target("dump", "worst document", _OF_PYDANTIC, 0.30, _worst("dump")),
)


def verdict(target: Target, measured: Measured | None) -> str:
    """The mark beside a ratio: "met", "missed", "-" when it has no target, or why it is missing."""
    if measured is None:
        return "not measured in this run"
    if target.limit is None:
        return "-"
    return "met" if measured.ratio <= target.limit else "missed"
