"""Building the KV-cache scaling-factor file from a checkpoint's scale tensors.

The file holds what vLLM runs with: the checkpoint is read and judged as
`inspect_checkpoint` reads it for vLLM (`inspection.examine`), so `extract`
refuses whatever `validate` reports, and each layer's scale is made of the
k and v values vLLM's attention layer holds, as `reduce` says. A fused
`kv_scale` therefore gives the file k's value where vLLM copies k into v
(fp8, Quark, ModelOpt) and is refused where it leaves v at 1.0
(compressed-tensors); a per-head scale counts as its largest value, the one
the kernels get. Layers past `num_hidden_layers` (MTP or draft layers) are
left out; q and prob scales have no place in the file and are only
reported. Anything short of one sound scale for every model layer raises
`ExtractError` naming the file and tensor: the result is never empty or
partial. The older per-rank export (`per_rank`) no engine reads from the
checkpoint, so it is read as it stands.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Literal

import attrs

from .._context import ValidationContext
from .._errors import Problem, QuantParamError, describe
from .._format import FP8_DTYPE
from .._maps import LayerScales
from .._schema import KVCacheQuantSchema, QuantParamSchema
from . import messages
from .engines.verdict import at_default
from .folder import Layout, UnreadableCheckpoint, find_layout, resolve_folder
from .hub import HubError, hub_target, opened
from .inspection import examine
from .layers import is_tower
from .per_rank import from_rank_files
from .scheme import ModelConfig, read_configs
from .text import layers_text

__all__ = ["DEFAULT_OUTPUT_NAME", "ExtractError", "Extraction", "Reduce", "extract", "extract_scales"]

DEFAULT_OUTPUT_NAME = "kv_cache_scales.json"

Reduce = Literal["max", "k", "v"]


class ExtractError(QuantParamError):
    """The checkpoint does not hold one sound KV-cache scale per layer.

    Each problem's path names the file, and the tensor when there is one:
    `model-00001-of-00002.safetensors["model.layers.3.self_attn.k_scale"]`.
    `source` is the checkpoint folder. `unreadable` is True when some file
    could not be read at all (an empty folder, a shard that is a FIFO or
    denied), as opposed to read and found wanting.
    """

    def __init__(
        self, problems: Iterable[Problem], source: str | None = None, *, unreadable: bool = False
    ) -> None:
        super().__init__(problems, source)
        self.unreadable = unreadable


@attrs.frozen
class Extraction:
    """What `extract` made of a checkpoint, and how."""

    # The validated file, as `quantparams.load` would return it.
    schema: QuantParamSchema
    # True when some layer's scale was made from separate k and v scales, as
    # `reduce` says; False when every layer had one kv scale, used as stored.
    reduced: bool
    # True when some scale was one per head, reduced to its largest value.
    per_head: bool = False
    # Layers past num_hidden_layers whose scales were left out.
    left_out: tuple[int, ...] = ()
    # The q and prob scale tensors found (`file["tensor"]`), not written.
    not_written: tuple[str, ...] = ()
    # What `inspect_checkpoint` warns of the checkpoint, for vLLM.
    warnings: tuple[Problem, ...] = ()

    @property
    def notes(self) -> tuple[str, ...]:
        """What a person should know of how the file was made, one phrase each."""
        notes = []
        if self.per_head:
            notes.append("per-head scales reduced to their largest")
        if self.left_out:
            notes.append(f"{layers_text(list(self.left_out))} past num_hidden_layers left out")
        if self.not_written:
            count = len(self.not_written)
            notes.append(
                f"{count} q/prob scale{'s' if count != 1 else ''} not written: the file has no place for them"
            )
        return tuple(notes)


@attrs.frozen
class _Made:
    values: dict[int, float] | None
    warnings: tuple[Problem, ...] = ()
    unreadable: bool = False
    reduced: bool = False
    per_head: bool = False
    left_out: tuple[int, ...] = ()
    not_written: tuple[str, ...] = ()


def extract_scales(
    checkpoint: str | os.PathLike[str],
    *,
    tp_size: int = 1,
    reduce: Reduce = "max",
    model_type: str | None = None,
) -> QuantParamSchema:
    """The quantization parameter file for the FP8 checkpoint in folder `checkpoint`:
    the scales vLLM runs its attention layers with.

    `reduce` makes one scale per layer of the k and v values vLLM uses:
    `"max"` (covers both), `"k"` or `"v"`. The per-layer
    map is the same for every TP rank 0..tp_size-1, except in the per-rank
    layout, whose files give both the ranks and their scales: there a
    `tp_size` other than 1 must match the number of files. `model_type`
    overrides config.json's.

    Raises `FileNotFoundError` (or another `OSError`) when the folder cannot be
    read, and `ExtractError` when its contents are not a sound set of scales.
    """
    return extract(checkpoint, tp_size=tp_size, reduce=reduce, model_type=model_type).schema


def extract(
    checkpoint: str | os.PathLike[str],
    *,
    tp_size: int = 1,
    reduce: Reduce = "max",
    model_type: str | None = None,
) -> Extraction:
    """`extract_scales`, also telling how the scales were made (`Extraction`).

    `checkpoint` may be a Hugging Face Hub model id, as for `inspect_checkpoint`;
    a model that cannot be read there raises `OSError` with the reason.
    """
    _check_arguments(tp_size, reduce, model_type)
    target = hub_target(checkpoint)
    if target is not None:
        try:
            with opened(target) as (folder, _):
                return _extract(folder, tp_size, reduce, model_type)
        except HubError as error:
            raise OSError(str(error)) from None
        except ExtractError as error:
            raise ExtractError(error.problems, os.fspath(checkpoint), unreadable=error.unreadable) from None
    return _extract(checkpoint, tp_size, reduce, model_type)


def _extract(
    checkpoint: str | os.PathLike[str], tp_size: int, reduce: Reduce, model_type: str | None
) -> Extraction:
    try:
        folder = resolve_folder(checkpoint)
    except UnreadableCheckpoint as error:
        raise OSError(error.errno, error.strerror, os.fspath(checkpoint)) from None
    problems: list[Problem] = []
    config = read_configs(folder, problems)
    try:
        layout = find_layout(folder, problems)
    except UnreadableCheckpoint as error:
        problem = Problem("*.safetensors", str(error.strerror))
        raise ExtractError([problem], os.fspath(checkpoint), unreadable=True) from None
    if layout.kind == "per-rank":
        ranks, left_out = from_rank_files(layout, tp_size, config, problems)
        made = _Made(None, left_out=left_out)
    else:
        made = _from_scales(layout, config, reduce, problems)
        ranks = {0: made.values} if made.values is not None else {}
    # Both readers add a problem whenever they return no layer map.
    if problems:
        raise ExtractError(problems, os.fspath(checkpoint), unreadable=made.unreadable)
    scales = {rank: LayerScales(layers) for rank, layers in ranks.items()}
    if len(scales) == 1 and tp_size > 1:
        # One immutable map serves every rank.
        scales = dict.fromkeys(range(tp_size), scales[0])
    final_type = model_type if model_type is not None else config.model_type
    schema = QuantParamSchema(final_type, KVCacheQuantSchema(FP8_DTYPE, scales))
    layer_count = len(ranks[0])
    for rank in scales:
        schema.validate(ValidationContext(len(scales), rank, layer_count, final_type))
    return Extraction(schema, made.reduced, made.per_head, made.left_out, made.not_written, made.warnings)


def _check_arguments(tp_size: object, reduce: object, model_type: object) -> None:
    if not (isinstance(tp_size, int) and not isinstance(tp_size, bool) and tp_size >= 1):
        raise ValueError(f"tp_size must be an integer >= 1, got {describe(tp_size)}")
    if reduce not in ("max", "k", "v"):
        raise ValueError(f'reduce must be "max", "k" or "v", got {describe(reduce)}')
    if not (model_type is None or isinstance(model_type, str)):
        raise ValueError(f"model_type must be a string or None, got {describe(model_type)}")


def _from_scales(layout: Layout, config: ModelConfig, reduce: Reduce, problems: list[Problem]) -> _Made:
    """One scale per layer 0..L-1, as vLLM runs it; values None with every problem added to `problems`."""
    examined = examine(layout, config, problems, ("vllm",))
    problems[:] = examined.problems
    if not config.found:
        problems.insert(0, Problem("config.json", messages.EXTRACT_NEEDS_CONFIG))
    found = examined.found
    count = examined.layer_count
    language = [scale for scale in found.scales if not is_tower(scale.named.stack)]
    left_out = tuple(sorted({scale.named.layer for scale in language if scale.named.layer >= count}))
    view, _ = examined.views.of("vllm")
    # The summary's note says what became of the layers past the count; and the file's
    # per-tensor scales ask nothing of the GPU that the checkpoint's per-head ones do.
    unsaid = {
        messages.past_count(list(left_out), config, count) if left_out else None,
        messages.requires(view.title, view.requires) if view.requires else None,
    }
    made = _Made(
        None,
        tuple(warning for warning in examined.warnings if warning.message not in unsaid),
        found.unreadable_input,
        left_out=left_out,
        not_written=tuple(
            scale.where
            for scale in language
            if scale.named.kind in ("q", "prob") and scale.named.layer < count
        ),
    )
    if problems:
        return made
    if not found.scales:
        # A dynamic scheme needs no scales to serve, but a file made of none would be all defaults.
        problems.append(Problem(layout.where, messages.none_found(found, layout, config)))
        return made
    layers = {layer.layer: layer for layer in view.layers}
    # Under a config that declares no static scales, a layer at 1.0 is no problem to serve,
    # but a file made of it would pass a default off as a calibrated scale.
    problems.extend(at_default(view, layout.where))
    no_cache = [layer for layer in range(count) if layer not in layers]
    if no_cache:
        basis = f"{layers_text(no_cache)} keep no KV cache, and engines that read the file look for attention there"
        problems.append(Problem(layout.where, messages.no_scale_for(no_cache, count, basis)))
    if problems:
        return made
    values = {
        number: _reduce(layer.scale("k").value, layer.scale("v").value, reduce)
        for number, layer in layers.items()
    }
    return attrs.evolve(
        made,
        values=values,
        reduced=any(
            layer.scale("k").source == "checkpoint" and layer.scale("v").source == "checkpoint"
            for layer in layers.values()
        ),
        per_head=any(
            layer.scale(kind).per_head is not None for layer in layers.values() for kind in ("k", "v")
        ),
    )


def _reduce(k: float, v: float, reduce: Reduce) -> float:
    if reduce == "k":
        return k
    if reduce == "v":
        return v
    return max(k, v)
