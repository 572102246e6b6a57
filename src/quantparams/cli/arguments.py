"""What every command's arguments share: the parser, the command record, argument types."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from .. import DEFAULT_MAX_BYTES
from .exit_codes import EXIT_USAGE
from .output import Report, UsageFailure, emit
from .text import SHOWN

__all__ = [
    "Command",
    "HelpFormatter",
    "Parser",
    "UsageError",
    "engine_flag",
    "engines_named",
    "integer_at_least",
    "json_flag",
    "limit_flag",
    "max_bytes_flag",
    "tolerance",
]


class Parser(argparse.ArgumentParser):
    """A parser whose errors exit 2 and, when `--json` was asked for, print one JSON document."""

    def __init__(self, *args: Any, json_errors: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.json_errors = json_errors

    def error(self, message: str) -> None:  # type: ignore[override]
        emit(UsageFailure(self.prog, message, self.format_usage()), as_json=self.json_errors)
        self.exit(EXIT_USAGE)


class HelpFormatter(argparse.HelpFormatter):
    """Fills paragraphs to the terminal's width, but keeps indented lines (examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks = []
        for block in text.split("\n\n"):
            if block.startswith("  "):
                blocks.append("\n".join(indent + line for line in block.splitlines()))
            else:
                blocks.append(super()._fill_text(block, width, indent))
        return "\n\n".join(blocks)


class Command(NamedTuple):
    """One subcommand: its name, help texts, arguments and what it does."""

    name: str
    help: str
    description: str
    # What each exit status means for this command, and one command line to try.
    exit_status: str
    example: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    # What it found, for `output.emit` to print.
    run: Callable[[argparse.Namespace], Report]

    @property
    def epilog(self) -> str:
        return epilog(self.exit_status, self.example)


def epilog(exit_status: str, example: str) -> str:
    return f"exit status: {exit_status}\n\nexample:\n\n  {example}"


class UsageError(Exception):
    """Arguments that parse but do not go together."""


def json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document for programs, whatever the exit status"
    )


# The engines `--engine` names; the checkpoint package holds their models.
ENGINE_CHOICES = ("vllm", "sglang", "all")


def engine_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
        default="vllm",
        help="for a checkpoint folder: the engine whose view decides the problems and the exit status "
        "(default vllm; all: vLLM and SGLang)",
    )


def engines_named(engine: str) -> tuple[str, ...]:
    """The engines `--engine ENGINE` names."""
    return ("vllm", "sglang") if engine == "all" else (engine,)


def limit_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """`--limit N`: how many rows of `what` a table shows (0: all)."""
    parser.add_argument(
        "--limit",
        type=integer_at_least(0),
        default=SHOWN,
        metavar="N",
        help=f"show at most N {what} (default {SHOWN}; 0 shows all; --json always lists all)",
    )


def max_bytes_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-bytes",
        type=integer_at_least(0),
        default=DEFAULT_MAX_BYTES,
        metavar="N",
        help=f"refuse a file larger than N bytes without reading it (default {DEFAULT_MAX_BYTES}, 64 MiB)",
    )


def tolerance(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def integer_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse
