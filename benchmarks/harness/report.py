"""The Markdown report: environment, versions, then one table per measurement.

Every time is a median. Ratios divide a contender's median by the orjson
floor's or by pydantic_lax's on the same document and job: below 1 is faster.
"""

from __future__ import annotations

from collections.abc import Sequence

from .isolated import BARE, ENGINE_STARTS
from .jobs import JOBS
from .results import Results
from .targets import BASELINE, FLOOR, TARGETS, verdict


def duration(ns: float) -> str:
    """A duration with three significant figures and a unit a person reads at a glance."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if abs(ns) >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def byte_size(count: int | None) -> str:
    """A byte count in KiB or MiB, three significant figures."""
    if count is None:
        return "n/a"
    if abs(count) >= 2**20:
        return f"{count / 2**20:.3g} MiB"
    return f"{count / 2**10:.3g} KiB"


def _figure(value: float) -> str:
    """Three significant figures without exponents: 393, 1.85, 1.00, 0.00426, <0.001."""
    if abs(value) >= 100:
        return f"{value:.0f}"
    if 0 < abs(value) < 0.001:
        return "<0.001"
    return f"{value:#.3g}".rstrip(".")


def _ratio(value: float, against: float | None) -> str:
    if against is None or against <= 0:
        return "n/a"
    return f"{_figure(value / against)}x"


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 1) -> list[str]:
    """A Markdown table: the first `text_columns` columns left-aligned, the numbers right-aligned."""
    align = ["---" if i < text_columns else "---:" for i in range(len(header))]
    return [f"| {' | '.join(header)} |", f"| {' | '.join(align)} |", *(f"| {' | '.join(r)} |" for r in rows)]


def _header(results: Results) -> list[str]:
    env = results.environment
    lines = [
        "# quantparams benchmark results",
        "",
        f"Mode: **{results.mode}**. Total run time: {results.run_seconds:.0f} s.",
        "",
        *(f"- {key}: {value}" for key, value in env.items()),
        "",
        "## Contenders",
        "",
    ]
    rows = [[c.NAME, "yes" if c.CHECKS else "no (floor)", c.VERSION] for c in results.contenders]
    lines += _table(["contender", "checks", "libraries"], rows, text_columns=3)
    lines += ["", "## Documents", ""]
    rows = [
        [d.label, f"{d.tp_size} x {d.num_hidden_layers}", f"{d.scale_count:,}", f"{len(d.data):,}"]
        for d in results.documents
    ]
    return lines + _table(["document", "TP ranks x layers", "scales", "bytes"], rows)


def _job_section(results: Results, job_name: str, title: str) -> list[str]:
    by_doc = results.timings.get(job_name, {})
    # Re-validating costs the floors nothing but a call: no ratio to or of them means anything.
    floors_compared = job_name != "revalidate"
    lines = ["", f"## {title}", ""]
    if not floors_compared:
        lines += [
            "The floors check nothing: their rows show the cost of calling a function that does nothing.",
            "",
        ]
    rows = []
    for doc in results.documents:
        stats = by_doc.get(doc.label)
        if not stats:
            continue
        floor, base = stats[FLOOR].median_ns, stats[BASELINE].median_ns
        for c in results.contenders:
            s = stats[c.NAME]
            row = [doc.label, c.NAME, duration(s.median_ns), _figure(s.median_ns / doc.scale_count)]
            if floors_compared:
                row += [_ratio(s.median_ns, floor), _ratio(s.median_ns, base)]
            else:
                row += [_ratio(s.median_ns, base) if c.CHECKS else "n/a"]
            rows.append([*row, f"{s.spread:.0%}", str(results.rounds[(job_name, doc.label)])])
    ratios = [f"x {FLOOR}", f"x {BASELINE}"] if floors_compared else [f"x {BASELINE}"]
    header = ["document", "contender", "median", "ns/scale", *ratios, "IQR", "rounds"]
    return lines + _table(header, rows, text_columns=2)


def _cold_section(results: Results) -> list[str]:
    if not results.cold:
        return []
    bare = results.cold[BARE].median_ns
    base = results.cold[BASELINE].median_ns - bare
    lines = [
        "",
        f"## Cold start: fresh `python -c`, import + first load of {results.cold_doc}",
        "",
        f"Extra is the median of {_runs(len(results.cold[BARE].samples_ns))} minus that of "
        f"`python -c pass` ({duration(bare)}).",
        "",
    ]
    rows = []
    for c in results.contenders:
        s = results.cold[c.NAME]
        extra = s.median_ns - bare
        rows.append([c.NAME, duration(s.median_ns), duration(extra), _ratio(extra, base), f"{s.spread:.0%}"])
    return lines + _table(["contender", "median total", "extra", f"x {BASELINE}", "IQR"], rows)


def _engine_section(results: Results) -> list[str]:
    if not results.engine:
        return []
    ranks = results.engine_ranks
    sample = results.engine[ENGINE_STARTS[0]][BARE]
    lines = [
        "",
        f"## Engine start: {ranks} fresh processes, one per TP rank, each importing, loading and checking "
        f"{results.engine_doc} for its own rank",
        "",
        f"Total wall time from the first process's start to the last one's exit, median of "
        f"{_runs(len(sample.samples_ns))}. Sequential: one process after another. Concurrent: all "
        f"{ranks} started at once, sharing the CPUs listed above. "
        f"Every process runs its contender's cold-start code with its own rank's context; "
        f"{BARE} runs `python -c pass` {ranks} times. The floors take no part: they check nothing.",
        "",
    ]
    rows = []
    names = [BARE, *(c.NAME for c in results.contenders if c.NAME in results.engine[ENGINE_STARTS[0]])]
    for name in names:
        row = [name]
        for how in ENGINE_STARTS:
            s, base = results.engine[how][name], results.engine[how][BASELINE]
            row += [duration(s.median_ns), _ratio(s.median_ns, base.median_ns), f"{s.spread:.0%}"]
        rows.append(row)
    header = ["contender"]
    for how in ENGINE_STARTS:
        header += [how, f"x {BASELINE}", "IQR"]
    return lines + _table(header, rows)


def _targets_section(results: Results) -> list[str]:
    lines = [
        "",
        "## Targets",
        "",
        "quantparams' median over another contender's, both from this run; the sections below give "
        "the times.",
        "",
    ]
    rows = []
    for target in TARGETS:
        measured = target.measure(results)
        ratio = "n/a" if measured is None else f"{_figure(measured.ratio)}x"
        if measured is not None and measured.where:
            ratio += f" ({measured.where})"
        limit = "none" if target.limit is None else f"<= {_figure(target.limit)}x"
        rows.append([target.job, target.document, target.ratio, ratio, limit, verdict(target, measured)])
    return lines + _table(["job", "document", "ratio", "measured", "target", "verdict"], rows, text_columns=3)


def _memory_section(results: Results) -> list[str]:
    if not results.memory:
        return []
    base = results.memory[BASELINE]
    lines = [
        "",
        f"## Memory of one load of {results.memory_doc}",
        "",
        "Traced: allocations through Python's allocators (tracemalloc), peak during the load and "
        "still held after it; memory an extension takes from `malloc` itself is not seen. For a "
        "text over about 680 KiB orjson reserves a parse buffer of 12 bytes per byte of text "
        "through Python's allocator, mostly never touched, so the traced peak of a contender that "
        "has orjson parse a large text whole is far above what its resident memory grows by "
        "(quantparams reads a text over 2.7 MiB one TP rank at a time). "
        "RSS growth: rise of the process's peak resident size "
        "over the load, measured in a separate process; it sees every allocation.",
        "",
    ]
    rows = []
    for c in results.contenders:
        m = results.memory[c.NAME]
        peak, rss = m.get("traced_peak"), m.get("rss_growth")
        rows.append(
            [
                c.NAME,
                byte_size(peak),
                byte_size(m.get("retained")),
                byte_size(rss),
                "n/a" if peak is None else _ratio(peak, base.get("traced_peak")),
                "n/a" if rss is None else _ratio(rss, base.get("rss_growth")),
            ]
        )
    header = ["contender", "traced peak", "retained", "RSS growth", f"peak x {BASELINE}", f"RSS x {BASELINE}"]
    return lines + _table(header, rows)


def markdown(results: Results) -> str:
    """The whole report."""
    lines = _header(results)
    lines += _targets_section(results)
    for job in JOBS:
        lines += _job_section(results, job.name, job.title)
    lines += _cold_section(results)
    lines += _engine_section(results)
    lines += _memory_section(results)
    if results.chart:
        lines += ["", "## Load throughput", "", f"![load throughput by map size]({results.chart})"]
    return "\n".join(lines) + "\n"
