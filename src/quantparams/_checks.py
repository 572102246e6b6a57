"""The checks behind `validate`: what a sound file is, alone and for an engine.

Each check has a fast form that only answers "all sound?" and a precise form
that names every problem. The precise form runs only when the fast one says no.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ._context import ValidationContext
from ._errors import JsonPath, MapKey, Problem, describe, problem, spell
from ._format import FP8_DTYPE
from ._maps import RankScales

__all__ = [
    "context_problems",
    "document_problems",
    "fits_context",
    "is_sound_document",
    "is_sound_kv_cache",
    "kv_cache_problems",
]

_CONTEXT_KEYS = ("tp_size", "tp_rank", "num_hidden_layers")

# For `fits_context`: no file model type to compare with the context's.
_ANY = object()


def is_sound_kv_cache(dtype: object, ranks: RankScales, ctx: object) -> bool:
    """True when a KV-cache section has no problem for `ctx` (any context value).

    The fast form of `context_problems` + `kv_cache_problems`: it reads
    nothing but the cached facts of the maps, so re-checking a loaded file
    for another rank costs the same at any size. False means "run the
    precise checks", which name every problem.
    """
    return (
        dtype == FP8_DTYPE and ranks.is_sound() and (ctx is None or fits_context(ctx, ranks._fitting_shape()))
    )


def is_sound_document(model_type: object, dtype: object, ranks: RankScales, ctx: object) -> bool:
    """True when a whole document has no problem for `ctx`: `is_sound_kv_cache`
    plus the model type, its own and the context's."""
    return (
        (model_type is None or type(model_type) is str)
        and dtype == FP8_DTYPE
        and ranks.is_sound()
        and (ctx is None or fits_context(ctx, ranks._fitting_shape(), model_type))
    )


def fits_context(ctx: object, shape: tuple[int, int], file_model_type: object = _ANY) -> bool:
    """True when `ctx` (any context value) asks for no engine checks, or is a
    well-formed engine context that the file fits: its ranks are
    0..tp_size-1 and each has layers 0..num_hidden_layers-1, and the
    context's model type, when it names one, is `file_model_type` (unless
    that is left out).

    The fast form of the engine checks, for `validate` and the fast loader
    alike. The file comes as its shape, numbers that each knows without a
    look at the scales: the number of ranks and the number of layers every
    rank has, when the ranks are keyed 0..n-1 in order and each rank's
    layers 0..count-1; else anything that no context fits, such as (-1, -1)
    (`RankScales._fitting_shape`). False means "ask the precise checks",
    which need less (only the engine's own rank must have those layers) and
    name every problem.
    """
    if type(ctx) is dict:
        if not ctx:
            return True
        try:
            tp_size = ctx["tp_size"]
            tp_rank = ctx["tp_rank"]
            layer_count = ctx["num_hidden_layers"]
        except KeyError:  # the precise checks name what is missing
            return False
        model_type = ctx.get("model_type")
    elif type(ctx) is ValidationContext:
        tp_size, tp_rank, layer_count, model_type = (
            ctx.tp_size,
            ctx.tp_rank,
            ctx.num_hidden_layers,
            ctx.model_type,
        )
    else:
        return ctx is None
    # `type(x) is int` also refuses bools, as the precise context check does.
    return (
        type(tp_size) is int
        and type(tp_rank) is int
        and type(layer_count) is int
        and (
            model_type is None
            or (type(model_type) is str and (file_model_type is _ANY or model_type == file_model_type))
        )
        and 0 <= tp_rank < tp_size
        and layer_count >= 1
        and shape[0] == tp_size
        and shape[1] == layer_count
    )


def context_problems(ctx: object) -> tuple[ValidationContext | None, list[Problem]]:
    """The context to check against (None: no engine checks), and its problems.

    A mapping is read as vLLM reads its context dict: an empty one asks for no
    engine checks, and `model_type` may be left out.
    """
    if ctx is None or isinstance(ctx, ValidationContext):
        context = ctx
    elif isinstance(ctx, Mapping):
        if not ctx:
            return None, []
        missing = [key for key in _CONTEXT_KEYS if key not in ctx]
        if missing:
            names = ", ".join(f'"{key}"' for key in missing)
            return None, [problem((), f"engine context is missing {names}")]
        context = ValidationContext(
            tp_size=ctx["tp_size"],
            tp_rank=ctx["tp_rank"],
            num_hidden_layers=ctx["num_hidden_layers"],
            model_type=ctx.get("model_type"),
        )
    else:
        return None, [
            problem((), f"engine context must be a ValidationContext or a mapping, got {describe(ctx)}")
        ]
    if context is None:
        return None, []
    problems = _bad_context_fields(context)
    # A context that fails its own checks cannot judge the file against it.
    return (None if problems else context), problems


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad_context_fields(ctx: ValidationContext) -> list[Problem]:
    problems = []
    if not (_is_int(ctx.tp_size) and ctx.tp_size >= 1):
        problems.append(f"tp_size must be an integer >= 1, got {describe(ctx.tp_size)}")
    if not (_is_int(ctx.num_hidden_layers) and ctx.num_hidden_layers >= 1):
        problems.append(f"num_hidden_layers must be an integer >= 1, got {describe(ctx.num_hidden_layers)}")
    if not _is_int(ctx.tp_rank):
        problems.append(f"tp_rank must be an integer, got {describe(ctx.tp_rank)}")
    elif _is_int(ctx.tp_size) and not 0 <= ctx.tp_rank < ctx.tp_size:
        problems.append(
            f"tp_rank {spell(ctx.tp_rank)} is outside 0..{spell(ctx.tp_size - 1)} for TP size {spell(ctx.tp_size)}"
        )
    # Checked at run time whatever the annotations say: contexts come from config.
    model_type: object = ctx.model_type
    if not (model_type is None or isinstance(model_type, str)):
        problems.append(f"model_type must be a string or None, got {describe(model_type)}")
    return [problem((), f"engine context: {text}") for text in problems]


def kv_cache_problems(
    dtype: object, ranks: RankScales, ctx: ValidationContext | None, path: JsonPath
) -> list[Problem]:
    """Every problem of a KV-cache section; `ctx` must have passed its own checks."""
    problems = []
    if dtype != FP8_DTYPE:
        problems.append(
            problem(
                (*path, "dtype"),
                f"Loaded scaling factors intended for KV cache dtype = {spell(dtype)} rather than {FP8_DTYPE}!",
            )
        )
    map_path = (*path, "scaling_factor")
    for rank, layers in ranks.items():
        if not layers.is_sound():
            for layer, scale in layers._unsound():
                problems.append(
                    problem(
                        (*map_path, MapKey(rank), MapKey(layer)),
                        f"scale must be a finite number > 0, got {describe(scale)}",
                    )
                )
    if ctx is None:
        return problems
    tp_size, layer_count, tp_rank = ctx.tp_size, ctx.num_hidden_layers, ctx.tp_rank
    if len(ranks) != tp_size:
        problems.append(
            problem(
                map_path,
                f"Loaded dictionary has TP size {len(ranks)} "
                f"but LLM engine is currently running with TP size {spell(tp_size)}.",
            )
        )
    for rank, layers in ranks.items():
        if len(layers) != layer_count:
            problems.append(
                problem(
                    (*map_path, MapKey(rank)),
                    f"KV cache scales map for TP rank {spell(rank)} is malformed. "
                    f"Expected {spell(layer_count)} layers, got {len(layers)}.",
                )
            )
    for first, last in _missing_runs(ranks, tp_size):
        if first == last:
            problems.append(
                problem(
                    (*map_path, MapKey(first)), f"KV cache scales map for TP rank {spell(first)} not found."
                )
            )
        else:
            problems.append(
                problem(
                    map_path,
                    f"KV cache scales maps for TP ranks {spell(first)}-{spell(last)} not found "
                    f"({spell(last - first + 1)} ranks).",
                )
            )
    if tp_rank in ranks:
        rank_path = (*map_path, MapKey(tp_rank))
        for first, last in _missing_runs(ranks[tp_rank], layer_count):
            if first == last:
                problems.append(
                    problem(
                        (*rank_path, MapKey(first)),
                        f"Could not find KV cache scales for layer {spell(first)} in TP rank {spell(tp_rank)}.",
                    )
                )
            else:
                problems.append(
                    problem(
                        rank_path,
                        f"Could not find KV cache scales for layers {spell(first)}-{spell(last)} "
                        f"in TP rank {spell(tp_rank)} ({spell(last - first + 1)} layers).",
                    )
                )
    return problems


def _missing_runs(present: Iterable[int], size: int) -> list[tuple[int, int]]:
    """The keys of 0..size-1 not in `present`, as runs (first, last).

    One problem per run, not per key: an engine context may claim any size,
    and a run of 2**63 missing ranks is one line, not 2**63.
    """
    runs = []
    expected = 0
    for key in sorted(key for key in present if 0 <= key < size):
        if key > expected:
            runs.append((expected, key - 1))
        expected = key + 1
    if expected < size:
        runs.append((expected, size - 1))
    return runs


def document_problems(
    model_type: object, dtype: object, ranks: RankScales, ctx: ValidationContext | None
) -> list[Problem]:
    """Every problem of a whole document; `ctx` must have passed its own checks."""
    problems = []
    if not (model_type is None or isinstance(model_type, str)):
        problems.append(problem(("model_type",), f"expected a string or null, got {describe(model_type)}"))
    elif ctx is not None and ctx.model_type is not None and ctx.model_type != model_type:
        problems.append(
            problem(
                ("model_type",),
                f"Model type is {spell(ctx.model_type)} but loaded scaling factors "
                f"belonging to different model type {spell(model_type)}!",
            )
        )
    return problems + kv_cache_problems(dtype, ranks, ctx, ("kv_cache",))
