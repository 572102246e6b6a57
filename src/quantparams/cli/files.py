"""A file as the commands read it: the document, if it structures, and every problem."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, NamedTuple

from .. import (
    FileTooLargeError,
    Problem,
    QuantParamError,
    QuantParamSchema,
    ValidationContext,
    load,
    loads,
)

__all__ = [
    "STDIN",
    "Engine",
    "Loaded",
    "checkpoint_of",
    "display_name",
    "is_checkpoint",
    "load_file",
    "summary",
    "summary_json",
]

# The file argument that reads standard input, and its name in messages.
STDIN = "-"
_STDIN_NAME = "<stdin>"

_READ_CHUNK = 1024 * 1024


# A checkpoint's own files: given one of them, the check is of the folder that holds it.
_CHECKPOINT_FILES = ("config.json", "model.safetensors.index.json", "hf_quant_config.json")


def checkpoint_of(source: str) -> str | None:
    """The checkpoint folder `source` belongs to when it is one of a checkpoint's files
    (a `*.safetensors`, its `config.json` or its index), with a note on stderr; else None."""
    if not os.path.isfile(source):
        return None
    name = os.path.basename(source)
    folder = os.path.dirname(source) or "."
    if name.endswith(".safetensors") or (
        name in _CHECKPOINT_FILES and any(entry.endswith(".safetensors") for entry in os.listdir(folder))
    ):
        print(f"{source} is a file of the checkpoint in {folder}: checking the folder", file=sys.stderr)
        return folder
    return None


def is_checkpoint(source: str) -> bool:
    """A checkpoint folder, or a Hugging Face Hub model id (`org/name[@revision]`) with no such local path."""
    if os.path.isdir(source):
        return True
    if source == STDIN or os.path.lexists(source):
        return False
    # Imported here: only a path that is not there can be a model id.
    from ..checkpoint import hub_target

    return hub_target(source) is not None


def display_name(source: str) -> str:
    return _STDIN_NAME if source == STDIN else source


class Engine(NamedTuple):
    """What `validate --tp-size ... --num-layers ...` says of the engine; no `tp_rank`: every rank."""

    tp_size: int
    tp_rank: int | None
    num_hidden_layers: int
    model_type: str | None

    def contexts(self, schema: QuantParamSchema) -> list[ValidationContext]:
        """The contexts that together find every problem for every rank of the engine.

        A rank the file lacks adds nothing to the problems every context
        finds (the missing ranks, as runs), so only the ranks the file has are
        visited: a claimed TP size of 2**63 costs what the file's ranks cost.
        """
        if self.tp_rank is not None:
            ranks: Iterable[int] = [self.tp_rank]
        else:
            ranks = sorted(rank for rank in schema.kv_cache.scaling_factor if 0 <= rank < self.tp_size) or [0]
        return [
            ValidationContext(self.tp_size, rank, self.num_hidden_layers, self.model_type) for rank in ranks
        ]


class Loaded(NamedTuple):
    """A file as far as it could be read: no schema when it does not structure."""

    schema: QuantParamSchema | None
    problems: list[Problem]


def load_file(source: str, max_bytes: int, engine: Engine | None = None) -> Loaded:
    """The file (or standard input for "-") and every problem with it.

    Raises `OSError` when it cannot be read.
    """
    try:
        if source == STDIN:
            schema = loads(_read_stdin(max_bytes), validate=False)
        else:
            schema = load(source, validate=False, max_bytes=max_bytes)
    except QuantParamError as error:
        return Loaded(None, error.problems)
    contexts: list[ValidationContext | None] = [None] if engine is None else [*engine.contexts(schema)]
    return Loaded(schema, _problems(schema, contexts))


def _read_stdin(max_bytes: int) -> bytes:
    if sys.stdin is None:
        raise OSError("standard input is closed")
    chunks = []
    total = 0
    # One byte past the limit tells a stream at the limit from a longer one.
    while chunk := sys.stdin.buffer.read(min(_READ_CHUNK, max_bytes + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise FileTooLargeError(
                [
                    Problem(
                        "$",
                        f"standard input holds more than {max_bytes} bytes; "
                        "pass a larger --max-bytes N to read it",
                    )
                ],
                _STDIN_NAME,
            )
    return b"".join(chunks)


def _problems(schema: QuantParamSchema, contexts: list[ValidationContext | None]) -> list[Problem]:
    found: dict[Problem, None] = {}
    for context in contexts:
        try:
            schema.validate(context)
        except QuantParamError as error:
            # Checking every rank repeats the problems that concern all ranks.
            found.update(dict.fromkeys(error.problems))
    return list(found)


def _all_scales(schema: QuantParamSchema) -> list[float]:
    return [scale for layers in schema.kv_cache.scaling_factor.values() for scale in layers.values()]


def _layer_counts(schema: QuantParamSchema) -> list[int]:
    return sorted({len(layers) for layers in schema.kv_cache.scaling_factor.values()})


def summary(schema: QuantParamSchema) -> str:
    """One line on a valid file, as `validate` and `extract` print it."""
    ranks = schema.kv_cache.scaling_factor
    layers = "/".join(map(str, _layer_counts(schema))) or "0"
    scales = _all_scales(schema)
    scale_range = f", scales {min(scales):.6g} to {max(scales):.6g}" if scales else ""
    return (
        f"model_type {schema.model_type}, dtype {schema.kv_cache.dtype}, "
        f"{len(ranks)} TP rank{'s' if len(ranks) != 1 else ''} x {layers} layers{scale_range}"
    )


def summary_json(schema: QuantParamSchema) -> dict[str, Any]:
    scales = _all_scales(schema)
    return {
        "model_type": schema.model_type,
        "dtype": schema.kv_cache.dtype,
        "rank_count": len(schema.kv_cache.scaling_factor),
        "layers_per_rank": _layer_counts(schema),
        "min_scale": min(scales, default=None),
        "max_scale": max(scales, default=None),
    }
