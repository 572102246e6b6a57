"""`quantparams inspect FILE`: a file's ranks, layers and scale statistics."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import OUTLIER_FACTOR, Problem
from .arguments import Command, engine_flag, engines_named, json_flag, limit_flag, max_bytes_flag
from .exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from .files import checkpoint_of, display_name, is_checkpoint, load_file
from .output import Line, Report, cannot_read, out, problem_lines, problems_json
from .text import SHOWN, g, numbers_text, runs_text, shown, shown_table, text

if TYPE_CHECKING:
    from .. import Inspection

__all__ = ["COMMAND"]

_HINT = "--limit 0 shows all"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", metavar="FILE", help="a scale file, or a checkpoint folder; - reads standard input"
    )
    limit_flag(parser, "rows of each table")
    engine_flag(parser)
    max_bytes_flag(parser)
    json_flag(parser)


def _run(args: argparse.Namespace) -> Report:
    args.file = checkpoint_of(args.file) or args.file
    if is_checkpoint(args.file):
        from .checkpoint import inspect_folder

        return inspect_folder(args.file, engines_named(args.engine), args.limit)
    return _inspect_file(args.file, args.max_bytes, args.limit)


class FileInspection(NamedTuple):
    """A file as `inspect` shows it: its statistics when it structures, and its problems."""

    path: str
    status: int
    problems: list[Problem]
    inspection: Inspection | None
    limit: int
    # Why the file could not be read, when it could not.
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        problems = self.problems if self.error is None else [Problem("$", self.error)]
        return {
            "path": self.path,
            "ok": not problems,
            "problems": problems_json(problems),
            "report": None if self.inspection is None else self.inspection.to_json(),
        }

    def to_text(self) -> list[Line]:
        if self.error is not None:
            return [Line(f"{self.path}: {self.error}", err=True)]
        # The table of a file that fails its checks is what one needs to fix it:
        # it is printed, and the problems follow on stderr.
        table = [] if self.inspection is None else out(_render(self.path, self.inspection, self.limit))
        return [*table, *problem_lines(self.path, self.problems)]


def _inspect_file(source: str, max_bytes: int, limit: int) -> FileInspection:
    # Imported here, not with the module: the other commands need none of it.
    from .. import inspect_schema

    path = display_name(source)
    try:
        schema, problems = load_file(source, max_bytes)
    except OSError as error:
        return FileInspection(path, EXIT_USAGE, [], None, limit, error=cannot_read(error))
    inspection = None if schema is None else inspect_schema(schema)
    return FileInspection(path, EXIT_INVALID if problems else EXIT_OK, problems, inspection, limit)


def _render(path: str, inspection: Inspection, limit: int) -> list[str]:
    stats = inspection.ranks
    lines = [
        f"file        {path}",
        f"model_type  {text(inspection.model_type)}",
        f"dtype       {text(inspection.dtype)}",
    ]
    if not stats:
        return [*lines, "ranks       none"]
    lines.append(f"ranks       {len(stats)}: {numbers_text(s.rank for s in stats)}")
    if inspection.rank_gaps:
        lines.append(f"            missing {runs_text(inspection.rank_gaps)}")
    reference = numbers_text(inspection.reference_layers) or "none"
    count = len(inspection.reference_layers)
    if inspection.layer_sets_differ:
        sharing = sum(1 for s in stats if not (s.missing_layers or s.extra_layers))
        lines.append(f"layers      {count} in {sharing} of {len(stats)} ranks: {reference}")
    else:
        lines.append(f"layers      {count} in every rank: {reference}")
    if inspection.layer_gaps:
        lines.append(f"            missing {runs_text(inspection.layer_gaps)}")
    lines.append("")
    lines += shown_table(
        ["rank", "layers", "min", "median", "max", "outliers"],
        stats,
        lambda s: [str(s.rank), str(s.layer_count), g(s.min), g(s.median), g(s.max), str(s.outlier_count)],
        limit=limit,
        hint=_HINT,
    )
    if inspection.layer_sets_differ:
        lines += ["", f"layer sets that differ from rank {inspection.reference_rank}'s:"]
        lines += shown(
            [
                f"  rank {s.rank}: "
                + "; ".join(
                    f"{what} {numbers_text(layers)}"
                    for what, layers in (("missing", s.missing_layers), ("extra", s.extra_layers))
                    if layers
                )
                for s in stats
                if s.missing_layers or s.extra_layers
            ]
        )
    factor = f"{inspection.outlier_factor:g}"
    heading = f"outliers (scale > {factor}x or < 1/{factor} of its rank's median)"
    if not inspection.outliers:
        return [*lines, "", f"{heading}: none"]
    outliers = shown_table(
        ["rank", "layer", "scale", "median", "x median"],
        inspection.outliers,
        lambda o: [str(o.rank), str(o.layer), g(o.scale), g(o.median), f"{o.ratio:.3g}"],
        indent="  ",
        limit=limit,
        hint=_HINT,
    )
    return [*lines, "", f"{heading}:", *outliers]


COMMAND = Command(
    name="inspect",
    help="show a file's ranks, layers and scale statistics, or a checkpoint's scales layer by layer",
    description="Show the model type, dtype, ranks and layers of a file, each rank's smallest, "
    f"median and largest scale, the layers whose scale is more than {OUTLIER_FACTOR:g}x or less "
    f"than 1/{OUTLIER_FACTOR:g} of their rank's median, and the ranks whose layers differ. "
    "A file that structures but fails its checks is still shown; its problems follow on stderr. "
    f"Long tables and lists are cut to {SHOWN} lines (--limit); --json lists everything. "
    "For a checkpoint folder: each layer's k, v, q and prob scales, the tensor each comes from and "
    "the vLLM parameter it becomes, problems on stderr and warnings after them; --json prints "
    "{path, ok, problems, warnings, report}.",
    exit_status="0 the file or folder is valid, 1 it has problems (listed on stderr, after the tables "
    "when it structures), 2 a usage error or a file or folder that cannot be read.",
    example="quantparams inspect examples/llama-tp2-32layers.json",
    add_arguments=_add_arguments,
    run=_run,
)
