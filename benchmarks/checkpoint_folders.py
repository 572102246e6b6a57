"""Checking a big checkpoint folder: quantparams beside what a user would write by hand, in one run.

Two layouts on disk, their weights sparse files, each shard in the order safetensors
writes one: a dense model (80 layers over 30 shards) and a DeepSeek-V3-sized MoE (61
layers, 256 experts, 163 shards, about 94,000 tensors and an 8.6 MB index). The hand-written check opens every shard
with `safetensors.safe_open` and reads each tensor whose name ends in
`k_scale` / `v_scale`; quantparams runs `inspect_checkpoint`, which also reads
the configs, checks every header and models the engines. Each time is the best
of `--rounds` rounds, the three runs taking turns in each; the ratio is
quantparams' time over the script's. "first" is a check as a command makes it,
its memo caches empty; "again" is one more check in the same process (a server
checking the same layout twice). "median round" is the median over the rounds
of each round's ratio, "first" over the script: on a machine whose speed comes
and goes, the best times may come from its fast spells alone.

    python benchmarks/checkpoint_folders.py [--rounds 5] [--parts]

`--parts` also times the stages of a check one by one, caches empty as in
"first" (a diagnostic for the library's developers: it calls private steps).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from safetensors import safe_open  # noqa: E402

from checkpoints import INDEX_NAME  # noqa: E402
from layouts import write_layout  # noqa: E402
from quantparams.checkpoint import inspect_checkpoint  # noqa: E402
from quantparams.checkpoint import inspection as inspection_module  # noqa: E402
from quantparams.checkpoint.engines import RELEASES  # noqa: E402
from quantparams.checkpoint.engines.view import engine_view  # noqa: E402
from quantparams.checkpoint.folder import find_layout, resolve_folder  # noqa: E402
from quantparams.checkpoint.scan import scan  # noqa: E402
from quantparams.checkpoint.scheme import read_configs  # noqa: E402


def by_hand(folder: Path) -> int:
    index = json.loads((folder / INDEX_NAME).read_text())
    scales = {}
    for name in sorted(set(index["weight_map"].values())):
        with safe_open(folder / name, framework="numpy") as file:
            for key in file.keys():  # noqa: SIM118 - safe_open is not a mapping
                if key.endswith(("k_scale", "v_scale")):
                    scales[key] = float(file.get_tensor(key))
    return len(scales)


def forget() -> None:
    """Empty quantparams' memo caches, as a new process has them: the first check a command
    makes reads every name afresh."""
    for name, module in list(sys.modules.items()):
        if name.startswith("quantparams"):
            for value in vars(module).values():
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()


def side_by_side(
    runs: dict[str, tuple[Callable[[], object], Callable[[], None]]], rounds: int
) -> dict[str, list[float]]:
    """Each run's time in every round, the runs taking turns round by round: a slow spell
    of a shared machine then falls on all of them, not on whichever ran during it."""
    times: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(rounds):
        for label, (run, before) in runs.items():
            before()
            started = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - started)
    return times


def parts(folder: Path, rounds: int) -> list[str]:
    """The stages of `inspect_checkpoint(folder)`, each timed on its own, taking turns round by
    round: the best and the median round, in milliseconds."""
    where = resolve_folder(folder)
    config = read_configs(where, [])
    layout = find_layout(where, [])
    found = scan(layout, config, [])
    facts = inspection_module._check(layout, config, found, [], [])[1]
    stages: dict[str, Callable[[], object]] = {
        "configs": lambda: read_configs(where, []),
        "layout": lambda: find_layout(where, []),
        "scan (headers, scales, names)": lambda: scan(layout, config, []),
        "layer report and checks": lambda: inspection_module._check(layout, config, found, [], []),
        "vLLM view": lambda: engine_view(RELEASES["vllm"], facts),
        "whole check": lambda: inspect_checkpoint(folder),
    }
    times = side_by_side({stage: (run, forget) for stage, run in stages.items()}, rounds)
    return [
        f"  {stage}: {min(spent) * 1e3:.2f} ms, median {statistics.median(spent) * 1e3:.2f} ms"
        for stage, spent in times.items()
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parts", action="store_true", help="also time each stage of a check")
    args = parser.parse_args()
    stage_lines = []
    rows = [
        "| layout | tensors | quantparams inspect, first | again | safe_open by hand "
        "| ratio, first | again | first, median round |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory() as scratch:
        for label, layers, shards, experts in (
            ("80 layers, 30 shards", 80, 30, 0),
            ("MoE, 163 shards", 61, 163, 256),
        ):
            folder = Path(scratch) / label.replace(" ", "").replace(",", "-")
            count = write_layout(folder, layers, shards, experts)
            inspection = inspect_checkpoint(folder)
            if not inspection.ok or by_hand(folder) != 2 * layers:
                print(f"{label}: the two disagree: {inspection.problems}", file=sys.stderr)
                return 1

            def check(folder: Path = folder) -> object:
                return inspect_checkpoint(folder)

            times = side_by_side(
                {
                    "first": (check, forget),
                    "again": (check, lambda: None),
                    "theirs": (lambda folder=folder: by_hand(folder), lambda: None),
                },
                args.rounds,
            )
            first, again, theirs = (min(times[run]) for run in ("first", "again", "theirs"))
            typical = statistics.median(ours / hand for ours, hand in zip(times["first"], times["theirs"]))
            rows.append(
                f"| {label} | {count} | {first * 1e3:.1f} ms | {again * 1e3:.1f} ms | {theirs * 1e3:.1f} ms "
                f"| {first / theirs:.2f}x | {again / theirs:.2f}x | {typical:.2f}x |"
            )
            if args.parts:
                stage_lines += ["", f"{label}, each stage on its own:", *parts(folder, args.rounds)]
    print("\n".join(rows + stage_lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
