"""Measurements that need fresh interpreters: cold start, engine start and memory of one load.

Cold start is what a command-line tool or a short-lived worker pays: start
Python, import the contender (its libraries, its class definitions), load one
file. Each run is a new `python -c` process; the time reported is the median
over runs minus the median of a bare `python -c pass`, the runs of all
contenders and of the bare interpreter interleaved round by round. One
untimed run of each comes first so that compiled bytecode and the OS file
cache are warm for all alike.

Engine start is what an engine with one worker process per TP rank pays: one
fresh process per rank, each running the same cold-start code for its own
rank's context (import, load, check), timed from the first start to the last
exit. The processes run one after another ("sequential") and all at once
("concurrent"); every contender, and the bare interpreter, is started the
same way on the same file, round by round as above.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from time import perf_counter_ns

from .contenders import Contender
from .documents import Document
from .timing import Stats

BENCHMARKS = Path(__file__).resolve().parent.parent
BARE = "bare python"


def _argv(doc: Document, path: Path, tp_rank: int = 0) -> list[str]:
    return [str(path), str(doc.tp_size), str(tp_rank), str(doc.num_hidden_layers), str(doc.model_type)]


# Bytecode must be written for the warm-up run to warm anything: a setting
# that forbids it would have every run compile the sources of a library
# installed from a source tree, as no installed package does.
_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def _run(args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=BENCHMARKS, check=True, capture_output=True, text=True, env=_ENV
    )
    return done.stdout


def cold_starts(contenders: Sequence[Contender], doc: Document, path: Path, runs: int) -> dict[str, Stats]:
    """Wall time of each fresh-process run, by contender name, plus `BARE` for `python -c pass`."""
    commands = {BARE: ["-c", "pass"]}
    commands.update({c.NAME: ["-c", c.COLD_START_CODE, *_argv(doc, path)] for c in contenders})
    names = list(commands)
    for name in names:
        _run(commands[name])
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(runs):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            start = perf_counter_ns()
            _run(commands[name])
            samples[name].append(perf_counter_ns() - start)
    return {name: Stats(tuple(values)) for name, values in samples.items()}


ENGINE_STARTS = ("sequential", "concurrent")


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args], cwd=BENCHMARKS, env=_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _wait(process: subprocess.Popen[bytes]) -> None:
    _, stderr = process.communicate()
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, process.args, stderr=stderr)


def _engine_ns(per_rank: Sequence[list[str]], how: str) -> int:
    """Wall time of one engine start: a process per rank, run one by one or all at once."""
    start = perf_counter_ns()
    if how == "sequential":
        for args in per_rank:
            _wait(_start(args))
    else:
        for process in [_start(args) for args in per_rank]:
            _wait(process)
    return perf_counter_ns() - start


def engine_starts(
    contenders: Sequence[Contender], doc: Document, path: Path, runs: int
) -> dict[str, dict[str, Stats]]:
    """Wall time of `doc.tp_size` fresh processes, one per rank, by start (`ENGINE_STARTS`) and name.

    `BARE` is as many `python -c pass`. Only contenders that check take part:
    the floors have no rank to check the file for.
    """
    commands = {BARE: [["-c", "pass"]] * doc.tp_size}
    commands.update(
        {
            c.NAME: [["-c", c.COLD_START_CODE, *_argv(doc, path, rank)] for rank in range(doc.tp_size)]
            for c in contenders
            if c.CHECKS
        }
    )
    names = list(commands)
    for name in names:
        _engine_ns(commands[name], "sequential")
    samples: dict[str, dict[str, list[float]]] = {how: {name: [] for name in names} for how in ENGINE_STARTS}
    for index in range(runs):
        shift = index % len(names)
        for how in ENGINE_STARTS:
            for name in names[shift:] + names[:shift]:
                samples[how][name].append(_engine_ns(commands[name], how))
    return {
        how: {name: Stats(tuple(values)) for name, values in by_name.items()}
        for how, by_name in samples.items()
    }


def memory(contenders: Sequence[Contender], doc: Document, path: Path) -> dict[str, dict[str, int]]:
    """Bytes of one load per contender: `traced_peak`, `retained`, `rss_growth` (see `memory_probe`)."""
    results = {}
    for c in contenders:
        measured: dict[str, int] = {}
        for mode in ("traced", "rss"):
            out = _run(["-m", "harness.memory_probe", c.NAME, mode, *_argv(doc, path)])
            measured.update(json.loads(out))
        results[c.NAME] = measured
    return results
