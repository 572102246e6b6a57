"""`quantparams validate FILE...`: check files, alone or against an engine."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import Problem, QuantParamSchema
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
from .output import Line, Report, UsageFailure, cannot_read, problem_lines, problems_json

if TYPE_CHECKING:
    from .checkpoint import FolderCheck

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


class FileCheck(NamedTuple):
    """One file as `validate` found it: its summary when valid, else why not."""

    path: str
    status: int
    problems: list[Problem]
    # Only for a valid file.
    schema: QuantParamSchema | None = None
    # Why the file could not be read, when it could not.
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.status == EXIT_OK,
            "error": self.error,
            "problems": problems_json(self.problems),
            "summary": None if self.schema is None else summary_json(self.schema),
        }

    def to_text(self) -> list[Line]:
        if self.error is not None:
            return [Line(f"{self.path}: {self.error}", err=True)]
        if self.schema is not None:
            return [Line(f"ok  {self.path}: {summary(self.schema)}")]
        return problem_lines(self.path, self.problems)


class Validation:
    """Every file and folder `validate` checked, in the order given.

    Each is checked when its text is asked for, so that a person sees each
    input's lines as soon as it is checked (a Hub model may take seconds).
    """

    def __init__(self, checks: Iterable[FileCheck | FolderCheck]) -> None:
        self._pending = iter(checks)
        self._checked: list[FileCheck | FolderCheck] = []

    @property
    def checks(self) -> list[FileCheck | FolderCheck]:
        self._checked.extend(self._pending)
        return self._checked

    @property
    def status(self) -> int:
        return max(check.status for check in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.status == EXIT_OK, "files": [check.to_json() for check in self.checks]}

    def to_text(self) -> Iterator[Line]:
        for check in self._checked:
            yield from check.to_text()
        for check in self._pending:
            self._checked.append(check)
            yield from check.to_text()
        count = len(self._checked)
        if count > 1:
            failed = sum(check.status != EXIT_OK for check in self._checked)
            yield Line(f"{failed} of {count} invalid" if failed else f"all {count} valid")


def _run(args: argparse.Namespace) -> Report:
    try:
        engine = _engine(args)
    except UsageError as error:
        return UsageFailure("quantparams validate", str(error))
    folders = [source for source in args.files if is_checkpoint(source)]
    if folders and engine is not None:
        message = (
            f"{folders[0]} is a checkpoint folder, checked against its own config: "
            "leave out --tp-size and --num-layers"
        )
        return UsageFailure("quantparams validate", message)
    return Validation(_checks(args, folders, engine))


def _checks(
    args: argparse.Namespace, folders: list[str], engine: Engine | None
) -> Iterator[FileCheck | FolderCheck]:
    for source in args.files:
        folder = checkpoint_of(source) if source not in folders else None
        if folder is not None:
            source = folder
            folders.append(folder)
        if source in folders:
            from .checkpoint import check_folder

            yield check_folder(source, engines_named(args.engine))
        else:
            yield _check_file(source, args.max_bytes, engine)


def _check_file(source: str, max_bytes: int, engine: Engine | None) -> FileCheck:
    path = display_name(source)
    try:
        schema, problems = load_file(source, max_bytes, engine)
    except OSError as error:
        return FileCheck(path, EXIT_USAGE, [], error=cannot_read(error))
    if problems or schema is None:
        return FileCheck(path, EXIT_INVALID, problems)
    return FileCheck(path, EXIT_OK, [], schema)


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
