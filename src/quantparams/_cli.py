"""The `quantparams` command line: parses arguments and renders results.

Each command is a function that adds its arguments and a function that runs
it, registered in `_COMMANDS`. Exit status: 0 success, 1 invalid input (or,
for `diff`, files that differ), 2 usage error or a file that cannot be read
or written. Problems go
to stderr as `FILE: $.path: message`, one per line, with or without `--json`;
`--json` changes only what goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import orjson

from ._context import ValidationContext
from ._diff import DEFAULT_RTOL, Difference, ScaleDifference, diff_schemas
from ._errors import Problem, QuantParamError
from ._inspect import OUTLIER_FACTOR, Inspection, inspect_schema
from ._io import dump, load
from ._jsonschema import json_schema
from ._schema import QuantParamSchema

__all__ = ["main"]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

# Longest list a person gets before "... and N more"; --json lists everything.
_SHOWN = 20
# Widest run of layer or rank numbers on one line of human output.
_RANGES_WIDTH = 50


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class _Command(NamedTuple):
    """One subcommand. Adding one is writing these two functions and registering them in `_COMMANDS`."""

    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = _Parser(prog="quantparams", description="Read, check and write quantization parameter files.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    subparsers: dict[str, argparse.ArgumentParser] = {}
    for name, command in _COMMANDS.items():
        subparsers[name] = commands.add_parser(name, help=command.help, description=command.description)
        command.add_arguments(subparsers[name])
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> int:
    parser, subparsers = _parsers()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Reported by the command's parser, so that its usage line is shown.
        subparsers[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        status = _COMMANDS[args.command].run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`| head`). Point stdout at nothing so that
        # the flush at exit does not fail again with a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_USAGE
    return status


class _UsageError(Exception):
    pass


def _usage_error(command: str, error: Exception) -> int:
    print(f"quantparams {command}: error: {error}", file=sys.stderr)
    return EXIT_USAGE


def _cannot_read(path: str, error: OSError) -> str:
    message = f"cannot read: {error.strerror or error}"
    print(f"{path}: {message}", file=sys.stderr)
    return message


def _report(path: str, problems: Iterable[Problem]) -> None:
    # Whatever stdout holds comes first, also when both go to one file.
    sys.stdout.flush()
    for item in problems:
        print(f"{path}: {item}", file=sys.stderr)


def _print_json(document: object, *, indent: bool = False) -> None:
    # One line unless asked: a log of several runs is then JSON Lines.
    # Non-finite floats (possible only in documents built in Python) become null.
    try:
        text = orjson.dumps(document, option=orjson.OPT_INDENT_2 if indent else 0).decode()
    except TypeError:
        # orjson writes integers of up to 64 bits; a rank or layer key can be larger.
        text = json.dumps(
            _finite(document),
            indent=2 if indent else None,
            separators=None if indent else (",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    sys.stdout.write(text + "\n")


def _finite(value: object) -> object:
    """The value with non-finite floats replaced by None, as orjson writes them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _problems_json(problems: Iterable[Problem]) -> list[dict[str, str]]:
    return [{"path": item.path, "message": item.message} for item in problems]


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document for programs")


def _problems(schema: QuantParamSchema, contexts: list[ValidationContext | None]) -> list[Problem]:
    found: dict[Problem, None] = {}
    for context in contexts:
        try:
            schema.validate(context)
        except QuantParamError as error:
            # Checking every rank repeats the problems that concern all ranks.
            found.update(dict.fromkeys(error.problems))
    return list(found)


class _Loaded(NamedTuple):
    """A file as far as it could be read: no schema when it does not structure."""

    schema: QuantParamSchema | None
    problems: list[Problem]


def _load(path: str, contexts: list[ValidationContext | None]) -> _Loaded:
    """The file and every problem with it; raises `OSError` when it cannot be read."""
    try:
        schema = load(path, validate=False)
    except QuantParamError as error:
        return _Loaded(None, error.problems)
    return _Loaded(schema, _problems(schema, contexts))


# validate


def _validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--tp-size", type=int, metavar="N", help="the engine's tensor-parallel size")
    parser.add_argument("--tp-rank", type=int, metavar="R", help="check this rank only")
    parser.add_argument("--num-layers", type=int, metavar="L", help="the model's num_hidden_layers")
    parser.add_argument("--model-type", metavar="T", help="the model's type, e.g. llama")
    _json_flag(parser)


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


def _run_validate(args: argparse.Namespace) -> int:
    try:
        contexts = _contexts(args)
    except _UsageError as error:
        return _usage_error("validate", error)
    status = EXIT_OK
    results = []
    for path in args.files:
        result: dict[str, Any] = {"path": path, "ok": False, "error": None, "problems": [], "summary": None}
        results.append(result)
        try:
            schema, problems = _load(path, contexts)
        except OSError as error:
            result["error"] = _cannot_read(path, error)
            status = max(status, EXIT_USAGE)
            continue
        if problems or schema is None:
            _report(path, problems)
            result["problems"] = _problems_json(problems)
            status = max(status, EXIT_INVALID)
            continue
        result["ok"] = True
        result["summary"] = _summary_json(schema)
        if not args.json:
            print(f"ok  {path}: {_summary(schema)}")
    if args.json:
        _print_json({"ok": status == EXIT_OK, "files": results})
    return status


def _all_scales(schema: QuantParamSchema) -> list[float]:
    return [scale for layers in schema.kv_cache.scaling_factor.values() for scale in layers.values()]


def _layer_counts(schema: QuantParamSchema) -> list[int]:
    return sorted({len(layers) for layers in schema.kv_cache.scaling_factor.values()})


def _summary(schema: QuantParamSchema) -> str:
    ranks = schema.kv_cache.scaling_factor
    layers = "/".join(map(str, _layer_counts(schema))) or "0"
    scales = _all_scales(schema)
    scale_range = f", scales {min(scales):.6g} to {max(scales):.6g}" if scales else ""
    return (
        f"model_type {schema.model_type}, dtype {schema.kv_cache.dtype}, "
        f"{len(ranks)} TP rank{'s' if len(ranks) != 1 else ''} x {layers} layers{scale_range}"
    )


def _summary_json(schema: QuantParamSchema) -> dict[str, Any]:
    scales = _all_scales(schema)
    return {
        "model_type": schema.model_type,
        "dtype": schema.kv_cache.dtype,
        "rank_count": len(schema.kv_cache.scaling_factor),
        "layers_per_rank": _layer_counts(schema),
        "min_scale": min(scales, default=None),
        "max_scale": max(scales, default=None),
    }


# inspect


def _inspect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE")
    _json_flag(parser)


def _run_inspect(args: argparse.Namespace) -> int:
    path = args.file
    try:
        schema, problems = _load(path, [None])
    except OSError as error:
        _cannot_read(path, error)
        return EXIT_USAGE
    # The table of a file that fails its checks is what one needs to fix it:
    # it is printed, and the problems follow on stderr.
    inspection = None if schema is None else inspect_schema(schema)
    if args.json:
        report = None if inspection is None else _inspection_json(inspection)
        _print_json(
            {"path": path, "ok": not problems, "problems": _problems_json(problems), "report": report}
        )
    elif inspection is not None:
        print("\n".join(_render_inspection(path, inspection)))
    _report(path, problems)
    return EXIT_INVALID if problems else EXIT_OK


def _inspection_json(inspection: Inspection) -> dict[str, Any]:
    return {
        "model_type": inspection.model_type,
        "dtype": inspection.dtype,
        "rank_count": len(inspection.ranks),
        "rank_gaps": inspection.rank_gaps,
        "reference_rank": inspection.reference_rank,
        "reference_layers": inspection.reference_layers,
        "layer_gaps": inspection.layer_gaps,
        "layer_sets_differ": inspection.layer_sets_differ,
        "outlier_factor": OUTLIER_FACTOR,
        "ranks": [
            {
                "rank": stats.rank,
                "layer_count": stats.layer_count,
                "min": stats.min,
                "median": stats.median,
                "max": stats.max,
                "outlier_count": stats.outlier_count,
                "missing_layers": stats.missing_layers,
                "extra_layers": stats.extra_layers,
            }
            for stats in inspection.ranks
        ],
        "outliers": [
            {
                "rank": outlier.rank,
                "layer": outlier.layer,
                "scale": outlier.scale,
                "median": outlier.median,
                "ratio": outlier.ratio,
            }
            for outlier in inspection.outliers
        ],
    }


def _render_inspection(path: str, inspection: Inspection) -> list[str]:
    stats = inspection.ranks
    lines = [
        f"file        {path}",
        f"model_type  {_text(inspection.model_type)}",
        f"dtype       {_text(inspection.dtype)}",
    ]
    if not stats:
        return [*lines, "ranks       none"]
    lines.append(f"ranks       {len(stats)}: {_ranges(s.rank for s in stats)}")
    if inspection.rank_gaps:
        lines.append(f"            missing {_pairs_text(inspection.rank_gaps)}")
    reference = _ranges(inspection.reference_layers) or "none"
    count = len(inspection.reference_layers)
    if inspection.layer_sets_differ:
        sharing = sum(1 for s in stats if not (s.missing_layers or s.extra_layers))
        lines.append(f"layers      {count} in {sharing} of {len(stats)} ranks: {reference}")
    else:
        lines.append(f"layers      {count} in every rank: {reference}")
    if inspection.layer_gaps:
        lines.append(f"            missing {_pairs_text(inspection.layer_gaps)}")
    lines.append("")
    lines += _table(
        ["rank", "layers", "min", "median", "max", "outliers"],
        [
            [str(s.rank), str(s.layer_count), _g(s.min), _g(s.median), _g(s.max), str(s.outlier_count)]
            for s in stats
        ],
    )
    if inspection.layer_sets_differ:
        lines += ["", f"layer sets that differ from rank {inspection.reference_rank}'s:"]
        lines += _shown(
            [
                f"  rank {s.rank}: "
                + "; ".join(
                    f"{what} {_ranges(layers)}"
                    for what, layers in (("missing", s.missing_layers), ("extra", s.extra_layers))
                    if layers
                )
                for s in stats
                if s.missing_layers or s.extra_layers
            ]
        )
    factor = f"{OUTLIER_FACTOR:g}"
    heading = f"outliers (scale > {factor}x or < 1/{factor} of its rank's median)"
    if not inspection.outliers:
        return [*lines, "", f"{heading}: none"]
    rows = [
        [str(o.rank), str(o.layer), _g(o.scale), _g(o.median), f"{o.ratio:.3g}"] for o in inspection.outliers
    ]
    table = _table(["rank", "layer", "scale", "median", "x median"], rows)
    return [*lines, "", f"{heading}:", *_shown(table[1:], head=table[:1], indent="  ")]


# diff


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _integer_at_least(minimum: int) -> Callable[[str], int]:
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


def _diff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="A")
    parser.add_argument("b", metavar="B")
    parser.add_argument(
        "--rtol",
        type=_tolerance,
        default=DEFAULT_RTOL,
        metavar="X",
        help="largest relative difference |a-b|/max(|a|,|b|) of two scales still taken as the same "
        f"(default {DEFAULT_RTOL:g})",
    )
    parser.add_argument(
        "--limit",
        type=_integer_at_least(0),
        default=_SHOWN,
        metavar="N",
        help=f"list at most N differing scales (default {_SHOWN}; 0 lists all; --json always lists all)",
    )
    _json_flag(parser)


def _run_diff(args: argparse.Namespace) -> int:
    loaded: dict[str, _Loaded] = {}
    for side, path in (("a", args.a), ("b", args.b)):
        try:
            loaded[side] = _load(path, [None])
        except OSError as error:
            _cannot_read(path, error)
    if len(loaded) < 2:
        for side, (_, problems) in loaded.items():
            _report(args.a if side == "a" else args.b, problems)
        return EXIT_USAGE
    (schema_a, problems_a), (schema_b, problems_b) = loaded["a"], loaded["b"]
    # Files that structure are compared even when they fail their checks: the
    # differences may be what explains the problems.
    difference = None
    if schema_a is not None and schema_b is not None:
        difference = diff_schemas(schema_a, schema_b, args.rtol)
    if args.json:
        _print_json(
            {
                "a": {"path": args.a, "ok": not problems_a, "problems": _problems_json(problems_a)},
                "b": {"path": args.b, "ok": not problems_b, "problems": _problems_json(problems_b)},
                "rtol": args.rtol,
                "same": None if difference is None else difference.same,
                "differences": None if difference is None else _difference_json(difference),
            }
        )
    elif difference is not None:
        lines = _render_difference(args.a, args.b, difference, args.limit)
        invalid = [side for side, problems in (("A", problems_a), ("B", problems_b)) if problems]
        if invalid:
            lines.append(f"invalid: {' and '.join(invalid)} (problems on stderr)")
        print("\n".join(lines))
    _report(args.a, problems_a)
    _report(args.b, problems_b)
    if difference is None or problems_a or problems_b or not difference.same:
        return EXIT_INVALID
    return EXIT_OK


def _scale_json(item: ScaleDifference) -> dict[str, Any]:
    return {
        "rank": item.rank,
        "layer": item.layer,
        "a": item.a,
        "b": item.b,
        "relative_difference": item.relative,
    }


def _difference_json(difference: Difference) -> dict[str, Any]:
    def pair(values: tuple[object, object] | None) -> dict[str, object] | None:
        return None if values is None else {"a": values[0], "b": values[1]}

    def layers(items: Iterable[tuple[int, int]]) -> list[dict[str, int]]:
        return [{"rank": rank, "layer": layer} for rank, layer in items]

    largest = difference.largest
    return {
        "model_type": pair(difference.model_type),
        "dtype": pair(difference.dtype),
        "ranks_only_in_a": difference.ranks_only_in_a,
        "ranks_only_in_b": difference.ranks_only_in_b,
        "layers_only_in_a": layers(difference.layers_only_in_a),
        "layers_only_in_b": layers(difference.layers_only_in_b),
        "scales_compared": difference.scales_compared,
        "largest": None if largest is None else _scale_json(largest),
        "scales": [_scale_json(item) for item in difference.scales],
    }


def _render_difference(path_a: str, path_b: str, difference: Difference, limit: int) -> list[str]:
    lines = [f"A: {path_a}", f"B: {path_b}"]
    for name, values in (("model_type", difference.model_type), ("dtype", difference.dtype)):
        if values is not None:
            lines.append(f"{name}: {_text(values[0])} in A, {_text(values[1])} in B")
    for side, ranks in (("A", difference.ranks_only_in_a), ("B", difference.ranks_only_in_b)):
        if ranks:
            lines.append(f"ranks only in {side}: {_ranges(ranks)}")
    for side, items in (("A", difference.layers_only_in_a), ("B", difference.layers_only_in_b)):
        if items:
            lines.append(f"layers only in {side}:")
            by_rank: dict[int, list[int]] = {}
            for rank, layer in items:
                by_rank.setdefault(rank, []).append(layer)
            lines += _shown([f"  rank {rank}: {_ranges(layers)}" for rank, layers in by_rank.items()])
    rtol = f"rtol {difference.rtol:g}"
    scales = difference.scales
    if scales:
        lines.append(
            f"{len(scales)} of {difference.scales_compared} shared scales differ by more than {rtol}, "
            "largest first:"
        )
        rows = [
            [str(d.rank), str(d.layer), repr(d.a), repr(d.b), f"{d.relative:.3g}"]
            for d in scales[: limit or None]
        ]
        table = _table(["rank", "layer", "A", "B", "relative"], rows)
        lines += [f"  {line}" for line in table]
        if len(rows) < len(scales):
            lines.append(f"  ... and {len(scales) - len(rows)} more (--limit 0 lists all)")
    largest = difference.largest
    if largest is None:
        compared = "no shared scales"
    else:
        count = difference.scales_compared
        compared = f"{count} shared scale{'s' if count != 1 else ''}, largest relative difference {largest.relative:.3g}"
        if largest.relative:
            compared += f" (rank {largest.rank} layer {largest.layer})"
    verdict = "differ" if not difference.same else f"same within {rtol}"
    lines.append(f"{verdict}: {compared}")
    return lines


# extract


def _extract_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT_DIR")
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write the file (default: kv_cache_scales.json in CHECKPOINT_DIR)",
    )
    parser.add_argument(
        "--tp-size",
        type=_integer_at_least(1),
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
    _json_flag(parser)


def _run_extract(args: argparse.Namespace) -> int:
    # Imported here: the other commands need neither it nor safetensors and numpy.
    from . import _extract

    checkpoint = args.checkpoint
    output = args.output
    if output is None:
        output = os.path.join(checkpoint, _extract.DEFAULT_OUTPUT_NAME)
    if os.path.isdir(output):
        print(f"{output}: cannot write: Is a directory (name a file with -o)", file=sys.stderr)
        return EXIT_USAGE
    try:
        extraction = _extract.extract(
            checkpoint, tp_size=args.tp_size, reduce=args.reduce, model_type=args.model_type
        )
    except QuantParamError as error:  # an ExtractError, or a check the scales failed
        # Nothing is written: an existing output file stays as it was.
        if args.json:
            _print_json(_extract_json(args, output, error.problems, None, args.reduce))
        _report(checkpoint, error.problems)
        return EXIT_INVALID
    except OSError as error:
        _cannot_read(checkpoint if error.filename is None else str(error.filename), error)
        return EXIT_USAGE
    except (_extract.MissingExtraError, ValueError) as error:
        return _usage_error("extract", error)
    schema = extraction.schema
    try:
        dump(schema, output)
    except OSError as error:
        print(f"{output}: cannot write: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    # --reduce has a default, so say what made the scales only where it played a part.
    reduced = args.reduce if extraction.reduced else None
    if args.json:
        _print_json(_extract_json(args, output, [], schema, reduced))
    elif reduced is not None:
        print(f"wrote {output}: {_summary(schema)}, reduce {reduced}")
    else:
        print(f"wrote {output}: {_summary(schema)}, one kv scale per layer, as stored")
    return EXIT_OK


def _extract_json(
    args: argparse.Namespace,
    output: str,
    problems: list[Problem],
    schema: QuantParamSchema | None,
    reduce: str | None,
) -> dict[str, Any]:
    return {
        "path": args.checkpoint,
        "output": output,
        "reduce": reduce,
        "ok": schema is not None,
        "problems": _problems_json(problems),
        "summary": None if schema is None else _summary_json(schema),
    }


# schema


def _schema_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def _run_schema(args: argparse.Namespace) -> int:
    _print_json(json_schema(), indent=True)
    return EXIT_OK


# rendering helpers


def _text(value: str | None) -> str:
    # JSON spelling: null stands out from a model type named "None".
    return orjson.dumps(value).decode()


def _g(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _ranges(numbers: Iterable[int]) -> str:
    """Sorted numbers as "0-3, 5", cut when long."""
    return _pairs_text([(number, number) for number in numbers])


def _pairs_text(pairs: Sequence[tuple[int, int]]) -> str:
    """Sorted (first, last) ranges as "0-3, 5", merging neighbours, cut when long."""
    merged: list[list[int]] = []
    for first, last in pairs:
        if merged and first == merged[-1][1] + 1:
            merged[-1][1] = last
        else:
            merged.append([first, last])
    parts = [str(first) if first == last else f"{first}-{last}" for first, last in merged]
    text = ", ".join(parts)
    if len(text) <= _RANGES_WIDTH:
        return text
    count = sum(last - first + 1 for first, last in merged)
    tail = f"... ({count} in all)"
    shown: list[str] = []
    for part in parts:
        if len(", ".join([*shown, part, tail])) > _RANGES_WIDTH:
            break
        shown.append(part)
    return ", ".join([*shown, tail])


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Right-aligned columns two spaces apart, headers on the first line."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    return ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in [headers, *rows]]


def _shown(lines: list[str], head: Sequence[str] = (), indent: str = "") -> list[str]:
    """At most `_SHOWN` lines, then how many more there are."""
    out = [indent + line for line in [*head, *lines[:_SHOWN]]]
    if len(lines) > _SHOWN:
        out.append(f"{indent}... and {len(lines) - _SHOWN} more (--json lists all)")
    return out


_COMMANDS: dict[str, _Command] = {
    "validate": _Command(
        help="check files, alone or against an engine's TP size and layer count",
        description="Check each file and list every problem with its JSON path. "
        "With --tp-size and --num-layers, also check it as an engine would load it: "
        "for --tp-rank, or for every rank when --tp-rank is left out.",
        add_arguments=_validate_arguments,
        run=_run_validate,
    ),
    "inspect": _Command(
        help="show a file's ranks, layers and scale statistics",
        description="Show the model type, dtype, ranks and layers of a file, each rank's smallest, "
        f"median and largest scale, the layers whose scale is more than {OUTLIER_FACTOR:g}x or less "
        f"than 1/{OUTLIER_FACTOR:g} of their rank's median, and the ranks whose layers differ. "
        "A file that structures but fails its checks is still shown; its problems follow on stderr.",
        add_arguments=_inspect_arguments,
        run=_run_inspect,
    ),
    "diff": _Command(
        help="compare two files layer by layer",
        description="Compare B with A: model type, dtype, ranks and layers present in one only, and "
        "the scales whose relative difference |a-b|/max(|a|,|b|) exceeds --rtol, largest first. "
        "Exit status 0 when both are valid and the same within the tolerance, 1 when they differ "
        "or either is invalid, 2 on a usage error or an unreadable file.",
        add_arguments=_diff_arguments,
        run=_run_diff,
    ),
    "schema": _Command(
        help="print a JSON Schema of the file format",
        description="Print a JSON Schema (draft 2020-12) of the file format: every check that needs "
        "no engine context, except that numbers fit a double.",
        add_arguments=_schema_arguments,
        run=_run_schema,
    ),
    "extract": _Command(
        help="build the file from an FP8 checkpoint's KV-cache scale tensors",
        description="Read the per-layer KV-cache scales of the FP8 safetensors checkpoint in "
        "CHECKPOINT_DIR (the files model.safetensors.index.json names when present, else every "
        "*.safetensors file, or the older per-rank rank0.safetensors, rank1.safetensors, ...) and "
        "its config.json (model type, num_hidden_layers); reduce k and v to one scale per layer; "
        "write the same scales for every TP rank; check the result and write it atomically. A layer without a scale, a duplicate or unsound scale, or no scales at all is "
        "an error naming the tensor, and nothing is written. Needs safetensors and numpy: "
        "pip install 'quantparams[extract]'. Exit status 0 when written, 1 when the checkpoint's "
        "scales are not sound, 2 on a usage error, an unreadable checkpoint or an unwritable output.",
        add_arguments=_extract_arguments,
        run=_run_extract,
    ),
}
