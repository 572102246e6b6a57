"""Benchmark quantparams against Pydantic (vLLM's choice), msgspec, naive cattrs and two parse-only floors.

    python benchmarks/run.py [--quick] [--out DIR]

Checks first that every contender gives the same scales for every document
(and refuses a context that does not fit), then times load, re-validation and
dump in process, cold start, engine start (a fresh process per TP rank) and
memory of one load in fresh processes, and writes a Markdown report
(`results.md`, quantparams' ratios beside their targets first) and a
load-throughput chart (`throughput.png`). `--quick` runs the whole pipeline on tiny documents in
seconds, so that CI keeps the harness working; its numbers mean little, and
unless `--out` says otherwise it writes to a new temporary folder rather than
over the full run's report. See benchmarks/README.md for how to read it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter_ns

from harness import isolated
from harness.agreement import disagreements
from harness.chart import draw
from harness.contenders import MissingLibrary, import_all
from harness.documents import Document, examples, generate
from harness.jobs import JOBS
from harness.report import markdown
from harness.results import Results
from harness.timing import Plan

BENCHMARKS = Path(__file__).resolve().parent
EXAMPLES = BENCHMARKS.parent / "examples"
COLD_START_SIZE = (8, 80)
MS = 1_000_000
S = 1_000_000_000


@dataclass(frozen=True)
class Settings:
    """What a run measures and for how long."""

    mode: str
    sizes: tuple[tuple[int, int], ...]
    plan: Plan
    cold_runs: int
    engine_size: tuple[int, int]
    engine_runs: int
    memory_size: tuple[int, int]


FULL = Settings(
    mode="full",
    sizes=((1, 32), (8, 80), (64, 128), (256, 1024)),
    plan=Plan(batch_ns=20 * MS, budget_ns=15 * S, min_rounds=5, max_rounds=25),
    cold_runs=9,
    engine_size=(8, 80),
    engine_runs=7,
    memory_size=(256, 1024),
)
QUICK = Settings(
    mode="quick (numbers are not meaningful)",
    sizes=((1, 32), (4, 16)),
    plan=Plan(batch_ns=2 * MS, budget_ns=S // 4, min_rounds=3, max_rounds=5),
    cold_runs=1,
    engine_size=(2, 16),
    engine_runs=1,
    memory_size=(4, 16),
)


def _environment() -> dict[str, str]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "Date (UTC)": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "Python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "Platform": platform.platform(),
        "Machine": platform.machine() or "unknown",
        "CPUs": f"{os.cpu_count()} ({usable} usable by this process)",
    }


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _unique(documents: Sequence[Document]) -> list[Document]:
    return list({doc.label: doc for doc in documents}.values())


def _measure(settings: Settings, results: Results, out: Path) -> None:
    contenders = results.contenders
    for job in JOBS:
        results.timings[job.name] = {}
        for doc in results.documents:
            started = perf_counter_ns()
            stats, rounds = job.run(contenders, doc, settings.plan)
            results.timings[job.name][doc.label] = stats
            results.rounds[(job.name, doc.label)] = rounds
            _progress(f"{job.name} {doc.label}: {rounds} rounds, {(perf_counter_ns() - started) / S:.1f} s")
    cold_doc, memory_doc = generate(*COLD_START_SIZE), generate(*settings.memory_size)
    engine_doc = generate(*settings.engine_size)
    with tempfile.TemporaryDirectory() as folder:
        cold_path, memory_path = Path(folder, "cold.json"), Path(folder, "memory.json")
        engine_path = Path(folder, "engine.json")
        cold_path.write_bytes(cold_doc.data)
        memory_path.write_bytes(memory_doc.data)
        engine_path.write_bytes(engine_doc.data)
        _progress(f"cold start: {settings.cold_runs} runs of {len(contenders) + 1} processes")
        results.cold = isolated.cold_starts(contenders, cold_doc, cold_path, settings.cold_runs)
        results.cold_doc = cold_doc.label
        _progress(f"engine start: {settings.engine_runs} runs of {engine_doc.tp_size} processes, both ways")
        results.engine = isolated.engine_starts(contenders, engine_doc, engine_path, settings.engine_runs)
        results.engine_doc, results.engine_ranks = engine_doc.label, engine_doc.tp_size
        _progress("memory: 2 processes per contender")
        results.memory = isolated.memory(contenders, memory_doc, memory_path)
        results.memory_doc = memory_doc.label
    if draw(results.timings["load"], results.documents, [c.NAME for c in contenders], out / "throughput.png"):
        results.chart = "throughput.png"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny documents, few rounds: checks the harness")
    parser.add_argument("--out", type=Path, help="folder for results.md and throughput.png")
    args = parser.parse_args(argv)
    started = perf_counter_ns()
    settings = QUICK if args.quick else FULL
    out: Path = args.out or (
        Path(tempfile.mkdtemp(prefix="quantparams-bench-")) if args.quick else BENCHMARKS
    )
    out.mkdir(parents=True, exist_ok=True)
    try:
        contenders = import_all()
    except MissingLibrary as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    documents = [generate(*size) for size in settings.sizes] + examples(EXAMPLES)
    extra_sizes = (COLD_START_SIZE, settings.engine_size, settings.memory_size)
    checked = _unique([*documents, *(generate(*size) for size in extra_sizes)])
    _progress(f"checking that {len(contenders)} contenders agree on {len(checked)} documents")
    problems = disagreements(contenders, checked)
    if problems:
        print("error: the contenders disagree, nothing was timed:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    results = Results(settings.mode, _environment(), contenders, documents)
    _measure(settings, results, out)
    results.run_seconds = (perf_counter_ns() - started) / S
    report = markdown(results)
    print(report)
    (out / "results.md").write_text(report, encoding="utf-8")
    print(f"wrote {out / 'results.md'}" + (f" and {out / results.chart}" if results.chart else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
