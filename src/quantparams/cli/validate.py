"""`quantparams validate FILE...`: check files, alone or against an engine."""

from __future__ import annotations

import argparse
from typing import Any

from .. import ValidationContext
from .arguments import Command, UsageError, json_flag
from .exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from .files import load_file, summary, summary_json
from .output import cannot_read, print_json, problems_json, report, usage_error

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--tp-size", type=int, metavar="N", help="the engine's tensor-parallel size")
    parser.add_argument("--tp-rank", type=int, metavar="R", help="check this rank only")
    parser.add_argument("--num-layers", type=int, metavar="L", help="the model's num_hidden_layers")
    parser.add_argument("--model-type", metavar="T", help="the model's type, e.g. llama")
    json_flag(parser)


def _contexts(args: argparse.Namespace) -> list[ValidationContext | None]:
    """The contexts to check each file against: [None] for the file alone."""
    engine = (args.tp_size, args.num_layers)
    if engine == (None, None):
        if args.tp_rank is not None or args.model_type is not None:
            raise UsageError("--tp-rank and --model-type need --tp-size and --num-layers")
        return [None]
    if None in engine:
        raise UsageError("--tp-size and --num-layers go together")
    ranks = range(args.tp_size) if args.tp_rank is None else [args.tp_rank]
    return [ValidationContext(args.tp_size, rank, args.num_layers, args.model_type) for rank in ranks]


def _run(args: argparse.Namespace) -> int:
    try:
        contexts = _contexts(args)
    except UsageError as error:
        return usage_error("validate", error)
    status = EXIT_OK
    results = []
    for path in args.files:
        file_status, result = _validate_file(path, contexts, args.json)
        status = max(status, file_status)
        results.append(result)
    if args.json:
        print_json({"ok": status == EXIT_OK, "files": results})
    return status


def _validate_file(
    path: str, contexts: list[ValidationContext | None], as_json: bool
) -> tuple[int, dict[str, Any]]:
    """The exit status for one file and its entry in the --json document."""
    result: dict[str, Any] = {"path": path, "ok": False, "error": None, "problems": [], "summary": None}
    try:
        schema, problems = load_file(path, contexts)
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
    help="check files, alone or against an engine's TP size and layer count",
    description="Check each file and list every problem with its JSON path. "
    "With --tp-size and --num-layers, also check it as an engine would load it: "
    "for --tp-rank, or for every rank when --tp-rank is left out.",
    add_arguments=_add_arguments,
    run=_run,
)
