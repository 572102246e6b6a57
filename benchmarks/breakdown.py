"""Where a quantparams load spends its time, stage by stage, per scale.

    python benchmarks/breakdown.py [TP_SIZExLAYERS ...]   (default: 64x128 256x1024)

Each stage is timed on its own, interleaved with the others round by round
(the harness's timing), on the same generated documents as `run.py`. This
is a diagnostic for the library's developers. `loads` runs the fast path
(`quantparams._fast`), which reads a text over 2.7 MiB one TP rank at a time;
both ways of reading are timed here whatever the size, and the precise
loader (`quantparams._precise`) on the smaller sizes. The checks inside the
fast path are timed one by one with the same expressions as
`quantparams._fast` (for a text without a minus sign): keep them in step
with it. The stages add up to about the whole load, not
exactly: each runs on its own, with its own caches and garbage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

import orjson

import quantparams
from harness.documents import generate
from harness.timing import Plan, interleaved
from quantparams._fast import load_fast
from quantparams._precise import load_precise
from quantparams._storage import key_strings

_FLOAT_ONLY = float.conjugate
_PLAN = Plan(batch_ns=20_000_000, budget_ns=10_000_000_000, min_rounds=5, max_rounds=15)
# The precise loader's scan for keys named twice runs in Python: past this
# many scales it would take most of the budget.
_PRECISE_UP_TO = 10_000
_NEVER = 1 << 62


def stages(data: bytes, context: dict[str, object], scales: int) -> dict[str, Callable[[], object]]:
    parsed = orjson.loads(data)
    layer_maps = list(parsed["kv_cache"]["scaling_factor"].values())
    loaded = quantparams.loads(data, context)

    def keys() -> object:
        return [list(layers) == key_strings(len(layers)) for layers in layer_maps]

    def float_not_zero() -> object:
        return [all(map(_FLOAT_ONLY, layers.values())) for layers in layer_maps]

    timed = {
        "whole load: quantparams.loads(data, ctx)": lambda: quantparams.loads(data, context),
        "orjson.loads, the whole text at once": lambda: orjson.loads(data),
        "fast path, whole, all checks": lambda: load_fast(data, context, True, pieces_from=_NEVER),
        "  keys are 0..n-1 in order": keys,
        "  every scale a float, not zero": float_not_zero,
        "  no minus sign in the text": lambda: b"-" not in data,
        "  no key named twice (count of colons)": lambda: len(data) - len(data.replace(b":", b"")),
        "fast path, in pieces, all checks": lambda: load_fast(
            data, context, True, pieces_from=0, min_piece=0
        ),
        "validate(ctx) of the loaded object": lambda: loaded.validate(context),
    }
    if scales <= _PRECISE_UP_TO:
        timed["precise loader, all checks"] = lambda: load_precise(data, context)
    return timed


def key_cache_stages(layers: int, tp_size: int) -> tuple[float, dict[str, Callable[[], object]]]:
    """What orjson's cache of key strings costs a rank of `layers` layers.

    orjson keeps recent keys in a cache with one place per key; keys that
    share a place evict each other, and are made afresh on every parse. This
    times the ranks of the document (keys "0".."n-1") against as many ranks
    whose keys share no place: the same sizes, the same values. Also gives the
    share of a rank's keys made afresh on each parse.
    """
    rank = {str(i): 0.004 + i * 1e-5 for i in range(layers)}
    calm_keys = _keys_sharing_no_cache_place(layers)
    usual = json.dumps(rank, indent=2).encode()
    calm = json.dumps(dict(zip(calm_keys, rank.values())), indent=2).encode()
    first, again = orjson.loads(usual), orjson.loads(usual)
    fresh = sum(a is not b for a, b in zip(first, again)) / layers
    return fresh, {
        'ranks with keys "0".."n-1"': lambda: [orjson.loads(usual) for _ in range(tp_size)],
        "ranks whose keys share no cache place": lambda: [orjson.loads(calm) for _ in range(tp_size)],
    }


def _keys_sharing_no_cache_place(count: int) -> list[str]:
    # A key that orjson hands out as the same object on a second parse kept its place.
    kept: list[str] = []
    candidate = 0
    while len(kept) < count:
        trial = kept + [str(n) for n in range(candidate, candidate + 64)]
        candidate += 64
        text = orjson.dumps(dict.fromkeys(trial, 0))
        first, again = orjson.loads(text), orjson.loads(text)
        kept = [a for a, b in zip(first, again) if a is b][:count]
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", default=["64x128", "256x1024"], help="TP ranks x layers")
    args = parser.parse_args(argv)
    for size in args.sizes:
        tp_size, layers = (int(part) for part in size.split("x"))
        doc = generate(tp_size, layers)
        results, rounds = interleaved(stages(doc.data, doc.context(), doc.scale_count), _PLAN)
        print(f"\n{doc.label} ({doc.scale_count:,} scales, {len(doc.data):,} bytes), {rounds} rounds")
        print(f"  {'stage':<46} {'ns/scale':>9}")
        for name, stats in results.items():
            print(f"  {name:<46} {stats.median_ns / doc.scale_count:>9.1f}")
        fresh, parses = key_cache_stages(layers, tp_size)
        results, rounds = interleaved(parses, _PLAN)
        print(
            f"  orjson's key cache: {fresh:.0%} of a rank's keys made afresh on every parse ({rounds} rounds)"
        )
        for name, stats in results.items():
            print(f"  {'  ' + name:<46} {stats.median_ns / doc.scale_count:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
