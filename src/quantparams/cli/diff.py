"""`quantparams diff A B`: two files compared layer by layer."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import Problem, QuantParamSchema
from .._format import DEFAULT_RTOL
from .arguments import Command, UsageError, json_flag, limit_flag, max_bytes_flag, tolerance
from .exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from .files import STDIN, checkpoint_of, display_name, is_checkpoint, load_file
from .output import cannot_read, print_json, problems_json, report, usage_error
from .text import ranges, shown, shown_table, text

if TYPE_CHECKING:
    from .._diff import Difference, ScaleDifference

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="A", help="a scale file or a checkpoint folder; - reads standard input")
    parser.add_argument(
        "b", metavar="B", help="another scale file or checkpoint folder; - reads standard input"
    )
    parser.add_argument(
        "--rtol",
        type=tolerance,
        default=DEFAULT_RTOL,
        metavar="X",
        help="largest relative difference |a-b|/max(|a|,|b|) of two scales still taken as the same "
        f"(default {DEFAULT_RTOL:g})",
    )
    limit_flag(parser, "differing scales")
    max_bytes_flag(parser)
    json_flag(parser)


class _Side(NamedTuple):
    """One of the two inputs: its name in messages, its scales if it has them, its problems.

    `schemas` maps a kind to one scale per layer: "kv" for a file (its one scale per
    layer); for a checkpoint folder, the k and v values vLLM uses, and "kv", the
    larger of the two, as `extract` writes it.
    """

    path: str
    schemas: dict[str, QuantParamSchema] | None
    problems: list[Problem]
    readable: bool

    def json(self) -> dict[str, Any]:
        return {"path": self.path, "ok": not self.problems, "problems": problems_json(self.problems)}


def _read(source: str, max_bytes: int) -> _Side:
    source = checkpoint_of(source) or source
    if is_checkpoint(source):
        from .checkpoint import checkpoint_scales

        schemas, problems, readable = checkpoint_scales(source)
        return _Side(source, schemas, problems, readable)
    path = display_name(source)
    try:
        schema, problems = load_file(source, max_bytes)
    except OSError as error:
        return _Side(path, None, [Problem("$", cannot_read(path, error))], readable=False)
    return _Side(path, None if schema is None else {"kv": schema}, problems, readable=True)


def _run(args: argparse.Namespace) -> int:
    # Imported here, not with the module: the other commands need none of it.
    from .._diff import diff_schemas

    if args.a == args.b == STDIN:
        return usage_error("diff", UsageError("standard input (-) can be read only once"), as_json=args.json)
    a, b = _read(args.a, args.max_bytes), _read(args.b, args.max_bytes)
    # Files that structure are compared even when they fail their checks: the
    # differences may be what explains the problems.
    differences: dict[str, Difference] | None = None
    if a.schemas is not None and b.schemas is not None:
        # Two checkpoints compare k and v apart; a checkpoint and a file, one scale per layer.
        kinds = ("k", "v") if "k" in a.schemas and "k" in b.schemas else ("kv",)
        differences = {kind: diff_schemas(a.schemas[kind], b.schemas[kind], args.rtol) for kind in kinds}
    files_only = "k" not in (a.schemas or {}) and "k" not in (b.schemas or {})
    same = None if differences is None else all(item.same for item in differences.values())
    if args.json:
        shown_json: object = None
        if differences is not None:
            shown_json = (
                _difference_json(differences["kv"])
                if files_only
                else {kind: _difference_json(item) for kind, item in differences.items()}
            )
        print_json({"a": a.json(), "b": b.json(), "rtol": args.rtol, "same": same, "differences": shown_json})
    elif differences is not None:
        lines = [] if files_only else ["(scales as vLLM uses them; against a file, the larger of k and v)"]
        for kind, difference in differences.items():
            if not files_only:
                lines.append(f"{kind} scales:" if kind != "kv" else "one scale per layer:")
            lines += _render(a.path, b.path, difference, args.limit)
        invalid = [name for name, side in (("A", a), ("B", b)) if side.problems]
        if invalid:
            lines.append(f"invalid: {' and '.join(invalid)} (problems on stderr)")
        print("\n".join(lines))
    # An unreadable file's message went out as it was found.
    for side in (a, b):
        if side.readable:
            report(side.path, side.problems)
    if not (a.readable and b.readable):
        return EXIT_USAGE
    if differences is None or a.problems or b.problems or not same:
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


def _render(path_a: str, path_b: str, difference: Difference, limit: int) -> list[str]:
    lines = [f"A: {path_a}", f"B: {path_b}"]
    for name, values in (("model_type", difference.model_type), ("dtype", difference.dtype)):
        if values is not None:
            lines.append(f"{name}: {text(values[0])} in A, {text(values[1])} in B")
    for side, ranks in (("A", difference.ranks_only_in_a), ("B", difference.ranks_only_in_b)):
        if ranks:
            lines.append(f"ranks only in {side}: {ranges(ranks)}")
    for side, items in (("A", difference.layers_only_in_a), ("B", difference.layers_only_in_b)):
        if items:
            lines.append(f"layers only in {side}:")
            by_rank: dict[int, list[int]] = {}
            for rank, layer in items:
                by_rank.setdefault(rank, []).append(layer)
            lines += shown([f"  rank {rank}: {ranges(layers)}" for rank, layers in by_rank.items()])
    rtol = f"rtol {difference.rtol:g}"
    scales = difference.scales
    if scales:
        lines.append(
            f"{len(scales)} of {difference.scales_compared} shared scales differ by more than {rtol}, "
            "largest first:"
        )
        lines += shown_table(
            ["rank", "layer", "A", "B", "relative"],
            scales,
            lambda d: [str(d.rank), str(d.layer), repr(d.a), repr(d.b), f"{d.relative:.3g}"],
            indent="  ",
            limit=limit,
            hint="--limit 0 lists all",
        )
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


COMMAND = Command(
    name="diff",
    help="compare two files or checkpoint folders layer by layer",
    description="Compare B with A: model type, dtype, ranks and layers present in one only, and "
    "the scales whose relative difference |a-b|/max(|a|,|b|) exceeds --rtol, largest first. "
    "Files that structure are compared even when they fail their checks; their problems follow on stderr. "
    "Two checkpoint folders are compared per kind (k, v) on the values vLLM uses; a folder and a file, "
    "on one scale per layer (the larger of k and v, as extract writes it).",
    exit_status="0 both files are valid and the same within --rtol, 1 they differ or either is invalid, "
    "2 a usage error or a file that cannot be read.",
    example="quantparams diff examples/llama-tp2-32layers.json examples/rerun/llama-tp2-32layers.json",
    add_arguments=_add_arguments,
    run=_run,
)
