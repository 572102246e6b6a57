"""The `quantparams` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._context import ValidationContext
from ._errors import Problem, QuantParamError
from ._io import load
from ._schema import QuantParamSchema

__all__ = ["main"]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="quantparams", description="Read, check and write quantization parameter files.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    validate = commands.add_parser(
        "validate",
        help="check files, alone or against an engine's TP size and layer count",
        description="Check each file and list every problem with its JSON path. "
        "With --tp-size and --num-layers, also check it as an engine would load it: "
        "for --tp-rank, or for every rank when --tp-rank is left out.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--tp-size", type=int, metavar="N", help="the engine's tensor-parallel size")
    validate.add_argument("--tp-rank", type=int, metavar="R", help="check this rank only")
    validate.add_argument("--num-layers", type=int, metavar="L", help="the model's num_hidden_layers")
    validate.add_argument("--model-type", metavar="T", help="the model's type, e.g. llama")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return _validate(args)


def _contexts(args: argparse.Namespace) -> list[ValidationContext | None]:
    """The contexts to check each file against: [None] for the file alone."""
    engine = (args.tp_size, args.num_layers)
    if engine == (None, None):
        if args.tp_rank is not None or args.model_type is not None:
            raise _UsageError("--tp-rank and --model-type need --tp-size and --num-layers")
        return [None]
    if None in engine:
        raise _UsageError("--tp-size and --num-layers go together")
    ranks = range(args.tp_size) if args.tp_rank is None else [args.tp_rank]
    return [ValidationContext(args.tp_size, rank, args.num_layers, args.model_type) for rank in ranks]


class _UsageError(Exception):
    pass


def _validate(args: argparse.Namespace) -> int:
    try:
        contexts = _contexts(args)
    except _UsageError as error:
        print(f"quantparams validate: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    status = EXIT_OK
    for path in args.files:
        try:
            schema = load(path, validate=False)
            problems = _problems(schema, contexts)
        except OSError as error:
            print(f"{path}: cannot read: {error.strerror or error}", file=sys.stderr)
            status = max(status, EXIT_USAGE)
            continue
        except QuantParamError as error:
            problems = error.problems
        if problems:
            for item in problems:
                print(f"{path}: {item}", file=sys.stderr)
            status = max(status, EXIT_INVALID)
        else:
            print(f"ok  {path}: {_summary(schema)}")
    return status


def _problems(schema: QuantParamSchema, contexts: list[ValidationContext | None]) -> list[Problem]:
    found: dict[Problem, None] = {}
    for context in contexts:
        try:
            schema.validate(context)
        except QuantParamError as error:
            # Checking every rank repeats the problems that concern all ranks.
            found.update(dict.fromkeys(error.problems))
    return list(found)


def _summary(schema: QuantParamSchema) -> str:
    ranks = schema.kv_cache.scaling_factor
    layer_counts = sorted({len(layers) for layers in ranks.values()})
    layers = "/".join(map(str, layer_counts)) or "0"
    scales = [scale for layer_map in ranks.values() for scale in layer_map.values()]
    scale_range = f", scales {min(scales):.6g} to {max(scales):.6g}" if scales else ""
    return (
        f"model_type {schema.model_type}, dtype {schema.kv_cache.dtype}, "
        f"{len(ranks)} TP rank{'s' if len(ranks) != 1 else ''} x {layers} layers{scale_range}"
    )
