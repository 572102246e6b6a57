"""What one run measured, gathered for the report and the targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .contenders import Contender
from .documents import Document
from .timing import Stats


@dataclass
class Results:
    """Everything one run measured, ready to print."""

    mode: str
    environment: Mapping[str, str]
    contenders: Sequence[Contender]
    documents: Sequence[Document]
    # job name -> document label -> contender name -> per-operation stats
    timings: dict[str, dict[str, dict[str, Stats]]] = field(default_factory=dict)
    rounds: dict[tuple[str, str], int] = field(default_factory=dict)
    cold_doc: str = ""
    cold: Mapping[str, Stats] = field(default_factory=dict)
    engine_doc: str = ""
    engine_ranks: int = 0
    # how the processes were started ("sequential", "concurrent") -> contender name -> wall time
    engine: Mapping[str, Mapping[str, Stats]] = field(default_factory=dict)
    memory_doc: str = ""
    memory: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    run_seconds: float = 0.0
    chart: str | None = None
