"""The load-throughput chart: scales per second against map size, one line per contender.

matplotlib is imported only here and only when drawing, so the harness runs
(and `--quick` checks it) where matplotlib is not installed.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .documents import Document
from .timing import Stats


def draw(
    load_stats: Mapping[str, Mapping[str, Stats]],
    documents: Sequence[Document],
    names: Sequence[str],
    path: Path,
) -> bool:
    """Write the PNG; False (after saying why) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "note: matplotlib is not installed; skipping the chart (pip install -e '.[bench]')",
            file=sys.stderr,
        )
        return False
    docs = sorted((d for d in documents if d.label in load_stats), key=lambda d: d.scale_count)
    fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
    for name in names:
        xs = [d.scale_count for d in docs]
        ys = [d.scale_count / (load_stats[d.label][name].median_ns / 1e9) for d in docs]
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("scales in the file (TP ranks x layers)")
    ax.set_ylabel("scales loaded per second (median)")
    ax.set_title("Load throughput: JSON bytes to a checked object")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
