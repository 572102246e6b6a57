"""`quantparams extract CHECKPOINT_DIR`: the file built from a checkpoint's scale tensors."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .. import Problem, QuantParamError, QuantParamSchema, dump
from .arguments import Command, integer_at_least, json_flag
from .exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from .files import checkpoint_of, summary, summary_json
from .output import print_json, problems_json, report, usage_error

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


def _run(args: argparse.Namespace) -> int:
    # Imported here: the other commands do not need it.
    from ..checkpoint import DEFAULT_OUTPUT_NAME, extract
    from ..checkpoint.folder import UnreadableCheckpoint, resolve_folder

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
    if os.path.isdir(output):
        return _failed(args, output, output, "cannot write: Is a directory (name a file with -o)")
    try:
        extraction = extract(checkpoint, tp_size=args.tp_size, reduce=args.reduce, model_type=args.model_type)
    except QuantParamError as error:  # an ExtractError, or a check the scales failed
        # Nothing is written: an existing output file stays as it was.
        if args.json:
            print_json(_extract_json(args, output, error.problems, None, args.reduce))
        report(checkpoint, error.problems)
        # Input that cannot be read is exit 2, as in every command.
        return EXIT_USAGE if getattr(error, "unreadable", False) else EXIT_INVALID
    except OSError as error:
        where = checkpoint if error.filename is None else str(error.filename)
        return _failed(args, output, where, f"cannot read: {error.strerror or error}")
    except ValueError as error:
        return usage_error("extract", error, as_json=args.json)
    schema = extraction.schema
    replaced = " (replacing the file there)" if os.path.exists(output) else ""
    try:
        dump(schema, output)
    except OSError as error:
        return _failed(args, output, output, f"cannot write: {error.strerror or error}")
    # --reduce has a default, so say what made the scales only where it played a part.
    reduced = args.reduce if extraction.reduced else None
    notes = "".join(f"; {note}" for note in extraction.notes)
    if args.json:
        print_json(_extract_json(args, output, [], schema, reduced, extraction.notes))
    elif reduced is not None:
        print(f"wrote {output}{replaced}: {summary(schema)}, reduce {reduced}{notes}")
    else:
        print(f"wrote {output}{replaced}: {summary(schema)}, one kv scale per layer, as stored{notes}")
    return EXIT_OK


def _failed(args: argparse.Namespace, output: str, where: str, message: str) -> int:
    """Exit 2 for a file that cannot be read or written, said on stderr and in the --json document."""
    if args.json:
        print_json(_extract_json(args, output, [Problem(where, message)], None, args.reduce))
    print(f"{where}: {message}", file=sys.stderr)
    return EXIT_USAGE


def _extract_json(
    args: argparse.Namespace,
    output: str,
    problems: list[Problem],
    schema: QuantParamSchema | None,
    reduce: str | None,
    notes: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "path": args.checkpoint,
        "output": output,
        "reduce": reduce,
        "ok": schema is not None,
        "problems": problems_json(problems),
        "summary": None if schema is None else summary_json(schema),
        "notes": list(notes),
    }


COMMAND = Command(
    name="extract",
    help="build the file from an FP8 checkpoint's KV-cache scale tensors",
    description="Read the per-layer KV-cache scales of the FP8 safetensors checkpoint in "
    "CHECKPOINT_DIR (the files model.safetensors.index.json names when present, else every "
    "*.safetensors file, or the older per-rank rank0.safetensors, rank1.safetensors, ...) and "
    "its config.json (model type, num_hidden_layers); reduce k and v to one scale per layer; "
    "write the same scales for every TP rank; check the result and write it atomically. Every "
    "naming engines read is accepted; per-head scales are reduced to their largest, layers past "
    "num_hidden_layers are left out and q and prob scales are not written, as the summary says. "
    "A layer without a scale, a duplicate or unsound scale, or no scales at all is "
    "an error naming the tensor, and nothing is written.",
    exit_status="0 written, 1 the checkpoint's scales are not sound (nothing is written), 2 a usage "
    "error, a checkpoint that cannot be read or an output that cannot be written.",
    example="quantparams extract examples/llama-fp8 --tp-size 2 -o scales.json",
    add_arguments=_add_arguments,
    run=_run,
)
