"""Run in a fresh interpreter: the memory one load takes. Prints one JSON object.

Usage (cwd `benchmarks/`): `python -m harness.memory_probe CONTENDER MODE PATH TP_SIZE TP_RANK LAYERS MODEL_TYPE`,
MODE `traced` or `rss`, measured in separate processes because tracing every
allocation inflates the resident size it would measure.

- traced: with `tracemalloc`, the peak of memory allocated through Python's
  allocators during the load, and what is still held once it returns (the
  object's size). Memory a C or Rust extension takes from `malloc` directly is
  not seen.
- rss: growth of the process's peak resident set size over the load, which
  sees every allocation but counts in pages and whatever the allocator keeps.

A tiny document is loaded first, so that one-time set-up (generated code, key
tables, lazy imports) is mostly not counted: this is the memory of a load, not
of a first import. It is a tiny one, not the measured file itself, because a
first load of the measured file would raise the peak resident size that the
rss mode then compares against.
"""

from __future__ import annotations

import gc
import importlib
import json
import sys
import tracemalloc
from typing import Any

from harness.documents import generate


def _peak_rss_bytes() -> int:
    """The process's peak resident set size so far, in bytes.

    On Linux, from `VmHWM`: `ru_maxrss` there survives `exec`, so a child
    started by a big parent would report the parent's peak and never grow.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def measure(name: str, mode: str, data: bytes, ctx: dict[str, Any]) -> dict[str, int]:
    contender = importlib.import_module(f"contenders.{name}")
    warm_up = generate(1, 32)
    contender.load(warm_up.data, warm_up.context())
    gc.collect()
    if mode == "traced":
        tracemalloc.start()
        obj = contender.load(data, ctx)
        retained, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del obj
        return {"traced_peak": peak, "retained": retained}
    before = _peak_rss_bytes()
    obj = contender.load(data, ctx)
    growth = _peak_rss_bytes() - before
    del obj
    return {"rss_growth": growth}


def main(argv: list[str]) -> None:
    name, mode, path, tp_size, tp_rank, layers, model_type = argv
    ctx = {
        "tp_size": int(tp_size),
        "tp_rank": int(tp_rank),
        "num_hidden_layers": int(layers),
        "model_type": model_type,
    }
    with open(path, "rb") as file:
        data = file.read()
    print(json.dumps(measure(name, mode, data, ctx)))


if __name__ == "__main__":
    main(sys.argv[1:])
