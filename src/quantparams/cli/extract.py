"""`quantparams extract CHECKPOINT_DIR`: the file built from a checkpoint's scale tensors."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import Problem, QuantParamError, dump
from .arguments import Command, integer_at_least, json_flag
from .exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from .files import checkpoint_of, summary, summary_json
from .output import Line, Report, UsageFailure, cannot_read, problems_json

if TYPE_CHECKING:
    from ..checkpoint import Extraction

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT_DIR")
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write the file (default: kv_cache_scales.json in CHECKPOINT_DIR, or here for a Hub model id)",
    )
    parser.add_argument(
        "--tp-size",
        type=integer_at_least(1),
        default=1,
        metavar="N",
        help="write the scales for TP ranks 0..N-1 (default 1); per-rank rank0.safetensors, ... "
        "checkpoints give their own ranks, and N must then match them or be 1",
    )
    parser.add_argument(
        "--reduce",
        choices=("max", "k", "v"),
        default="max",
        help="one scale per layer from the k and v scales: the larger (default), k's or v's",
    )
    parser.add_argument("--model-type", metavar="T", help="the file's model_type (default: config.json's)")
    json_flag(parser)


class ExtractReport(NamedTuple):
    """What `extract` did: the file written, or why nothing was.

    `reduce` is what made the scales: the --reduce asked for when nothing was
    written, else only where it played a part (None when every layer had
    one kv scale, used as stored).
    """

    path: str
    output: str
    reduce: str | None
    status: int
    problems: list[Problem]
    extraction: Extraction | None = None
    # Whether the file written replaced one.
    replaced: bool = False
    # Before each problem on stderr: the checkpoint a problem of its files belongs to.
    where: str | None = None

    def to_json(self) -> dict[str, Any]:
        extraction = self.extraction
        return {
            "path": self.path,
            "output": self.output,
            "reduce": self.reduce,
            "ok": extraction is not None,
            "problems": problems_json(self.problems),
            "summary": None if extraction is None else summary_json(extraction.schema),
            "notes": [] if extraction is None else list(extraction.notes),
            "warnings": [] if extraction is None else problems_json(extraction.warnings),
        }

    def to_text(self) -> list[Line]:
        from .checkpoint import grouped

        extraction = self.extraction
        if extraction is None:
            if self.where is None:
                return [Line(str(problem), err=True) for problem in self.problems]
            return [Line(f"{self.where}: {line}", err=True) for line in grouped(self.problems)]
        replaced = " (replacing the file there)" if self.replaced else ""
        notes = "".join(f"; {note}" for note in extraction.notes)
        # --reduce has a default, so say what made the scales only where it played a part.
        made = "one kv scale per layer, as stored" if self.reduce is None else f"reduce {self.reduce}"
        warnings = [Line(f"{self.path}: warning: {line}", err=True) for line in grouped(extraction.warnings)]
        return [
            *warnings,
            Line(f"wrote {self.output}{replaced}: {summary(extraction.schema)}, {made}{notes}"),
        ]


def _run(args: argparse.Namespace) -> Report:
    # Imported here: the other commands do not need it.
    from ..checkpoint import DEFAULT_OUTPUT_NAME, UnreadableCheckpoint, extract, resolve_folder

    checkpoint = checkpoint_of(args.checkpoint) or args.checkpoint
    output = args.output
    if output is None:
        # In the folder the files were read from (a Hugging Face cache entry's snapshot, not
        # beside its blobs/); a Hub model id has no folder here: the current one.
        output = DEFAULT_OUTPUT_NAME
        if os.path.isdir(checkpoint):
            try:
                output = os.path.join(resolve_folder(checkpoint), DEFAULT_OUTPUT_NAME)
            except UnreadableCheckpoint:
                output = os.path.join(checkpoint, DEFAULT_OUTPUT_NAME)

    def failed(where: str, message: str) -> ExtractReport:
        """Exit 2: a file that cannot be read or written."""
        return ExtractReport(args.checkpoint, output, args.reduce, EXIT_USAGE, [Problem(where, message)])

    if os.path.isdir(output):
        return failed(output, "cannot write: Is a directory (name a file with -o)")
    try:
        extraction = extract(checkpoint, tp_size=args.tp_size, reduce=args.reduce, model_type=args.model_type)
    except QuantParamError as error:  # an ExtractError, or a check the scales failed
        # Nothing is written: an existing output file stays as it was.
        # Input that cannot be read is exit 2, as in every command.
        status = EXIT_USAGE if getattr(error, "unreadable", False) else EXIT_INVALID
        return ExtractReport(args.checkpoint, output, args.reduce, status, error.problems, where=checkpoint)
    except OSError as error:
        return failed(checkpoint if error.filename is None else str(error.filename), cannot_read(error))
    except ValueError as error:
        return UsageFailure("quantparams extract", str(error))
    replaced = os.path.exists(output)
    try:
        dump(extraction.schema, output)
    except OSError as error:
        return failed(output, f"cannot write: {error.strerror or error}")
    reduced = args.reduce if extraction.reduced else None
    return ExtractReport(args.checkpoint, output, reduced, EXIT_OK, [], extraction, replaced)


COMMAND = Command(
    name="extract",
    help="build the file from an FP8 checkpoint's KV-cache scale tensors",
    description="Read the per-layer KV-cache scales of the FP8 safetensors checkpoint in "
    "CHECKPOINT_DIR (the files model.safetensors.index.json names when present, else every "
    "*.safetensors file, or the older per-rank rank0.safetensors, rank1.safetensors, ...) and "
    "its config.json (model type, num_hidden_layers); reduce k and v to one scale per layer; "
    "write the same scales for every TP rank; check the result and write it atomically. The "
    "scales are those vLLM runs with, the checkpoint read and judged as validate judges it: "
    "whatever validate reports (vLLM would not start, a layer would run k or v at 1.0, a duplicate "
    "or unsound scale, no scales at all) is an error naming the tensor, and nothing is written. "
    "Per-head scales count as their largest, layers past num_hidden_layers are left out and q "
    "and prob scales are not written, as the summary says.",
    exit_status="0 written, 1 the checkpoint's scales are not sound (nothing is written), 2 a usage "
    "error, a checkpoint that cannot be read or an output that cannot be written.",
    example="quantparams extract examples/llama-fp8 --tp-size 2 -o scales.json",
    add_arguments=_add_arguments,
    run=_run,
)
