"""`quantparams validate FILE...`: check files, alone or against an engine."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .arguments import (
    Command,
    UsageError,
    engine_flag,
    engines_named,
    integer_at_least,
    json_flag,
    max_bytes_flag,
)
from .exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from .files import STDIN, Engine, checkpoint_of, display_name, is_checkpoint, load_file, summary, summary_json
from .output import cannot_read, print_json, problems_json, report, usage_error

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="a scale file, or a checkpoint folder (checked against its config); - reads standard input",
    )
    parser.add_argument(
        "--tp-size", type=integer_at_least(1), metavar="N", help="the engine's tensor-parallel size"
    )
    parser.add_argument(
        "--tp-rank", type=integer_at_least(0), metavar="R", help="check this rank only (default: every rank)"
    )
    parser.add_argument(
        "--num-layers", type=integer_at_least(1), metavar="L", help="the model's num_hidden_layers"
    )
    parser.add_argument("--model-type", metavar="T", help="the model's type, e.g. llama")
    engine_flag(parser)
    max_bytes_flag(parser)
    json_flag(parser)


def _engine(args: argparse.Namespace) -> Engine | None:
    """What to check each file against: None for the file alone."""
    if args.files.count(STDIN) > 1:
        raise UsageError("standard input (-) can be read only once")
    if (args.tp_size, args.num_layers) == (None, None):
        if args.tp_rank is not None or args.model_type is not None:
            raise UsageError("--tp-rank and --model-type need --tp-size and --num-layers")
        return None
    if args.tp_size is None or args.num_layers is None:
        raise UsageError("--tp-size and --num-layers go together")
    if args.tp_rank is not None and args.tp_rank >= args.tp_size:
        raise UsageError(
            f"--tp-rank {args.tp_rank} is outside 0..{args.tp_size - 1} for --tp-size {args.tp_size}"
        )
    return Engine(args.tp_size, args.tp_rank, args.num_layers, args.model_type)


def _run(args: argparse.Namespace) -> int:
    try:
        engine = _engine(args)
    except UsageError as error:
        return usage_error("validate", error, as_json=args.json)
    status = EXIT_OK
    results = []
    failed = 0
    folders = [source for source in args.files if is_checkpoint(source)]
    if folders and engine is not None:
        message = (
            f"{folders[0]} is a checkpoint folder, checked against its own config: "
            "leave out --tp-size and --num-layers"
        )
        return usage_error("validate", UsageError(message), as_json=args.json)
    for source in args.files:
        folder = checkpoint_of(source) if source not in folders else None
        if folder is not None:
            source = folder
            folders.append(folder)
        if source in folders:
            from .checkpoint import validate_folder

            file_status, result = validate_folder(source, args.json, engines_named(args.engine))
        else:
            file_status, result = _validate_file(source, args.max_bytes, engine, args.json)
        status = max(status, file_status)
        results.append(result)
        failed += file_status != EXIT_OK
    if args.json:
        print_json({"ok": status == EXIT_OK, "files": results})
    elif len(args.files) > 1:
        sys.stdout.flush()
        print(f"{failed} of {len(args.files)} invalid" if failed else f"all {len(args.files)} valid")
    return status


def _validate_file(
    source: str, max_bytes: int, engine: Engine | None, as_json: bool
) -> tuple[int, dict[str, Any]]:
    """The exit status for one file and its entry in the --json document."""
    path = display_name(source)
    result: dict[str, Any] = {"path": path, "ok": False, "error": None, "problems": [], "summary": None}
    try:
        schema, problems = load_file(source, max_bytes, engine)
    except OSError as error:
        result["error"] = cannot_read(path, error)
        return EXIT_USAGE, result
    if problems or schema is None:
        report(path, problems)
        result["problems"] = problems_json(problems)
        return EXIT_INVALID, result
    result["ok"] = True
    result["summary"] = summary_json(schema)
    if not as_json:
        print(f"ok  {path}: {summary(schema)}")
    return EXIT_OK, result


COMMAND = Command(
    name="validate",
    help="check files, alone or against an engine's TP size and layer count, or checkpoint folders",
    description="Check each file and list every problem with its JSON path. "
    "With --tp-size and --num-layers, also check it as an engine would load it: "
    "for --tp-rank, or for every rank when --tp-rank is left out. "
    "A checkpoint folder is checked layer by layer: which KV-cache scales the engine will load "
    "(see inspect DIR); warnings go to stderr and leave the exit status as it is.",
    exit_status="0 every file and folder is valid (warnings leave it 0), 1 one is invalid, 2 a usage "
    "error or a file or folder that cannot be read.",
    example="quantparams validate examples/llama-tp2-32layers.json --tp-size 2 --num-layers 32",
    add_arguments=_add_arguments,
    run=_run,
)
