"""Building the KV-cache scaling-factor file from a checkpoint's scale tensors.

Every naming in the table is read (`naming.NAMINGS`), whatever the config:
the file is for engines that read it instead of the checkpoint. One scale per
layer is made of the k and v scales as `reduce` says; a fused `kv_scale` is
used as stored; a per-head scale is reduced to its largest value, the only
single scale that cannot overflow. Layers past `num_hidden_layers` (MTP or
draft layers) are left out; q and prob scales have no place in the file and
are only reported. Anything short of one sound scale for every model layer
raises `ExtractError` naming the file and tensor: the result is never empty
or partial.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Literal

import attrs

from .. import KVCacheQuantSchema, LayerScales, QuantParamSchema, ValidationContext
from .._errors import Problem, QuantParamError, describe
from .folder import Layout, UnreadableCheckpoint, find_layout, resolve_folder
from .hub import HubError, hub_target, opened
from .inspection import none_found
from .layers import is_tower
from .per_rank import from_rank_files
from .scan import FoundScale, scan
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
class _Layers:
    values: dict[int, float] | None
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
    """The quantization parameter file for the FP8 checkpoint in folder `checkpoint`.

    `reduce` makes one scale per layer of the k and v scales: `"max"` (covers
    both), `"k"` or `"v"`; a single `kv_scale` is used as is. The per-layer
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
        made = _Layers(None, left_out=left_out)
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
    schema = QuantParamSchema(final_type, KVCacheQuantSchema("float8_e4m3fn", scales))
    layer_count = len(ranks[0])
    for rank in scales:
        schema.validate(ValidationContext(len(scales), rank, layer_count, final_type))
    return Extraction(schema, made.reduced, made.per_head, made.left_out, made.not_written)


def _check_arguments(tp_size: object, reduce: object, model_type: object) -> None:
    if not (isinstance(tp_size, int) and not isinstance(tp_size, bool) and tp_size >= 1):
        raise ValueError(f"tp_size must be an integer >= 1, got {describe(tp_size)}")
    if reduce not in ("max", "k", "v"):
        raise ValueError(f'reduce must be "max", "k" or "v", got {describe(reduce)}')
    if not (model_type is None or isinstance(model_type, str)):
        raise ValueError(f"model_type must be a string or None, got {describe(model_type)}")


def _from_scales(layout: Layout, config: ModelConfig, reduce: Reduce, problems: list[Problem]) -> _Layers:
    """One scale per layer 0..L-1; values None with every problem added to `problems`."""
    scan_problems: list[Problem] = []
    found = scan(layout, config, scan_problems)
    count = config.num_hidden_layers
    # A left-out layer's scales are not refused, unsound or not: the file has no place for them.
    left_out_places = {
        scale.where for scale in found.scales if count is not None and scale.named.layer >= count
    }
    problems.extend(problem for problem in scan_problems if problem.path not in left_out_places)
    before = len(problems)
    by_layer: dict[int, dict[str, FoundScale]] = {}
    not_written = []
    for scale in found.scales:
        kind = scale.named.kind
        if is_tower(scale.named.stack):
            continue
        if kind in ("q", "prob"):
            not_written.append(scale.where)
            continue
        kinds = by_layer.setdefault(scale.named.layer, {})
        clashes = [
            kinds[other] for other in (("k", "v", "kv") if kind == "kv" else (kind, "kv")) if other in kinds
        ]
        if clashes:
            message = (
                f"duplicate KV-cache scale for layer {scale.named.layer}: "
                f"a {clashes[0].named.kind} scale was already found in {clashes[0].where}"
            )
            problems.append(Problem(scale.where, message))
            continue
        kinds[kind] = scale
    if not by_layer:
        if found.unreadable_files == 0 and not layout.broken_index:
            problems.append(Problem(layout.where, none_found(found, layout, config)))
        return _Layers(None, found.unreadable_input)
    if count is None:
        count, basis = max(by_layer) + 1, f"scales were found up to layer {max(by_layer)}"
    else:
        basis = f"{config.layers_source} is {count}"
    values = {}
    # Without an index, an unreadable file's layers are unknown, not missing: it is reported once.
    unknown = found.unreadable_files > 0 and layout.kind != "index"
    for layer in range(count):
        if unknown or layer in found.unread_layers:
            # Its other scale may be in the file that could not be read: not judged.
            continue
        value = _reduce(problems, layer, by_layer.get(layer), reduce)
        if value is not None:
            values[layer] = value
    missing = [layer for layer in range(count) if layer not in by_layer and layer not in found.unread_layers]
    if missing and not unknown:
        message = (
            f"no KV-cache scale for {layers_text(missing)} (layers 0..{count - 1} each need one: {basis})"
        )
        problems.append(Problem(layout.where, message))
    return _Layers(
        values if len(problems) == before else None,
        found.unreadable_input,
        reduced=any("kv" not in kinds for layer, kinds in by_layer.items() if layer < count),
        per_head=any(scale.per_head for kinds in by_layer.values() for scale in kinds.values()),
        left_out=tuple(layer for layer in sorted(by_layer) if layer >= count),
        not_written=tuple(not_written),
    )


def _reduce(
    problems: list[Problem], layer: int, kinds: dict[str, FoundScale] | None, reduce: Reduce
) -> float | None:
    if kinds is None or not all(scale.sound for scale in kinds.values()):
        return None
    # The largest of a per-head scale's values, the only one that cannot overflow.
    largest = {kind: max(scale.values or (0.0,)) for kind, scale in kinds.items()}
    if "kv" in kinds:
        return largest["kv"]
    present = "k" if "k" in kinds else "v"
    other = "v" if present == "k" else "k"
    if reduce == "max":
        if other in kinds:
            return max(largest["k"], largest["v"])
        message = (
            f'layer {layer} has a {present} scale but no {other} scale; reduce="max" needs both '
            f'(reduce="{present}" takes the {present} scale alone)'
        )
        problems.append(Problem(kinds[present].where, message))
        return None
    if reduce not in kinds:
        message = f'layer {layer} has no {reduce} scale for reduce="{reduce}", only a {present} scale'
        problems.append(Problem(kinds[present].where, message))
        return None
    return largest[reduce]
