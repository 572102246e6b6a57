"""A drop-in for vLLM's `kv_cache_scales_loader`."""

from __future__ import annotations

from ._context import ValidationContext
from ._errors import QuantParamError
from ._load import StrPath, load

__all__ = ["kv_cache_scales_loader"]


def kv_cache_scales_loader(
    filename: StrPath,
    tp_rank: int,
    tp_size: int,
    num_hidden_layers: int,
    model_type: str | None = None,
    *,
    strict: bool = False,
) -> list[tuple[int, float]]:
    """The (layer index, scale) pairs of `tp_rank`, checked against the engine.

    As vLLM's loader does, a file that cannot be read or fails a check is
    logged as an error and gives `[]`, which makes the engine use scales of
    1.0 for every layer: silently wrong numbers. Pass `strict=True` to get the
    `QuantParamError` (or `OSError`) instead.
    """
    context = ValidationContext(tp_size, tp_rank, num_hidden_layers, model_type)
    try:
        schema = load(filename, context)
    except (OSError, QuantParamError) as error:
        if strict:
            raise
        # Imported only when there is something to say: importing logging
        # would add to every engine's start-up otherwise.
        import logging

        logger = logging.getLogger("quantparams")
        logger.error("Could not load KV cache scaling factors from %s: %s", filename, _describe(error))
        logger.warning(
            "KV cache scaling factors default to 1.0 for all layers in TP rank %s: %s was not used",
            tp_rank,
            filename,
        )
        return []
    return list(schema.kv_cache.scaling_factor[tp_rank].items())


def _describe(error: BaseException) -> str:
    if isinstance(error, QuantParamError):
        return "; ".join(str(p) for p in error.problems)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)
