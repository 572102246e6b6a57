"""`quantparams diff A B`: two files compared layer by layer."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import DEFAULT_RTOL, Problem, QuantParamSchema
from .arguments import Command, json_flag, limit_flag, max_bytes_flag, tolerance
from .exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from .files import STDIN, checkpoint_of, display_name, is_checkpoint, load_file
from .output import Line, Report, UsageFailure, cannot_read, out, problem_lines, problems_json
from .text import numbers_text, shown, shown_table, text

if TYPE_CHECKING:
    from .. import Difference

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
    # Why it could not be read at all, when it could not.
    error: str | None = None

    def json(self) -> dict[str, Any]:
        return {"path": self.path, "ok": not self.problems, "problems": problems_json(self.problems)}


def _read(source: str, max_bytes: int) -> _Side:
    source = checkpoint_of(source) or source
    if is_checkpoint(source):
        from .checkpoint import checkpoint_scales

        return _Side(source, *checkpoint_scales(source))
    path = display_name(source)
    try:
        schema, problems = load_file(source, max_bytes)
    except OSError as error:
        message = cannot_read(error)
        return _Side(path, None, [Problem("$", message)], readable=False, error=message)
    return _Side(path, None if schema is None else {"kv": schema}, problems, readable=True)


class Comparison(NamedTuple):
    """Two inputs as `diff` compares them; `differences` by kind, None unless both have scales."""

    a: _Side
    b: _Side
    rtol: float
    differences: dict[str, Difference] | None
    limit: int

    @property
    def files_only(self) -> bool:
        """Whether neither side is a checkpoint: one scale per layer, not k and v."""
        return "k" not in (self.a.schemas or {}) and "k" not in (self.b.schemas or {})

    @property
    def same(self) -> bool | None:
        return None if self.differences is None else all(item.same for item in self.differences.values())

    @property
    def status(self) -> int:
        a, b = self.a, self.b
        if not (a.readable and b.readable):
            return EXIT_USAGE
        if self.differences is None or a.problems or b.problems or not self.same:
            return EXIT_INVALID
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        shown: object = None
        if self.differences is not None:
            shown = (
                self.differences["kv"].to_json()
                if self.files_only
                else {kind: item.to_json() for kind, item in self.differences.items()}
            )
        return {
            "a": self.a.json(),
            "b": self.b.json(),
            "rtol": self.rtol,
            "same": self.same,
            "differences": shown,
        }

    def to_text(self) -> list[Line]:
        sides = (self.a, self.b)
        # What could not be read is said first: nothing else is known of it.
        lines = [Line(f"{side.path}: {side.error}", err=True) for side in sides if side.error is not None]
        if self.differences is not None:
            if not self.files_only:
                lines.append(Line("(scales as vLLM uses them; against a file, the larger of k and v)"))
            for kind, difference in self.differences.items():
                if not self.files_only:
                    lines.append(Line(f"{kind} scales:" if kind != "kv" else "one scale per layer:"))
                lines += out(_render(self.a.path, self.b.path, difference, self.limit))
            invalid = [name for name, side in (("A", self.a), ("B", self.b)) if side.problems]
            if invalid:
                lines.append(Line(f"invalid: {' and '.join(invalid)} (problems on stderr)"))
        for side in sides:
            if side.error is None:
                lines += problem_lines(side.path, side.problems)
        return lines


def _run(args: argparse.Namespace) -> Report:
    # Imported here, not with the module: the other commands need none of it.
    from .. import diff_schemas

    if args.a == args.b == STDIN:
        return UsageFailure("quantparams diff", "standard input (-) can be read only once")
    a, b = _read(args.a, args.max_bytes), _read(args.b, args.max_bytes)
    # Files that structure are compared even when they fail their checks: the
    # differences may be what explains the problems.
    differences: dict[str, Difference] | None = None
    if a.schemas is not None and b.schemas is not None:
        # Two checkpoints compare k and v apart; a checkpoint and a file, one scale per layer.
        kinds = ("k", "v") if "k" in a.schemas and "k" in b.schemas else ("kv",)
        differences = {kind: diff_schemas(a.schemas[kind], b.schemas[kind], args.rtol) for kind in kinds}
    return Comparison(a, b, args.rtol, differences, args.limit)


def _render(path_a: str, path_b: str, difference: Difference, limit: int) -> list[str]:
    lines = [f"A: {path_a}", f"B: {path_b}"]
    for name, values in (("model_type", difference.model_type), ("dtype", difference.dtype)):
        if values is not None:
            lines.append(f"{name}: {text(values[0])} in A, {text(values[1])} in B")
    for side, ranks in (("A", difference.ranks_only_in_a), ("B", difference.ranks_only_in_b)):
        if ranks:
            lines.append(f"ranks only in {side}: {numbers_text(ranks)}")
    for side, items in (("A", difference.layers_only_in_a), ("B", difference.layers_only_in_b)):
        if items:
            lines.append(f"layers only in {side}:")
            by_rank: dict[int, list[int]] = {}
            for rank, layer in items:
                by_rank.setdefault(rank, []).append(layer)
            lines += shown([f"  rank {rank}: {numbers_text(layers)}" for rank, layers in by_rank.items()])
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
