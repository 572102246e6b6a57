"""Finding a checkpoint's KV-cache scale tensors through the naming table, and reading them.

Only the headers of the files are read, then the bytes of the tensors the
table names as scales, after their dtype and shape are found sound.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import attrs
import orjson

from .._errors import Problem, describe
from .folder import INDEX_NAME, Layout, OpenFile, open_file, what_is
from .header import FLOAT_DTYPES, Header, HeaderError, TensorInfo, read_floats, read_header, read_one_float
from .naming import MAX_LAYERS, NamedScale, looks_like_scale, name_scale, scale_like, tensor_layer
from .numbers import shortest
from .scheme import ModelConfig

__all__ = [
    "FoundScale",
    "Scan",
    "layer_as_n",
    "past_layers",
    "scale_values",
    "scan",
    "sound_per_tensor",
    "tensor_path",
]


def tensor_path(file: str, tensor: str) -> str:
    return f"{file}[{orjson.dumps(tensor).decode()}]"


def layer_as_n(path: str, layer: int) -> str:
    """A tensor's path (`tensor_path`) with `N` for the number of its layer `layer`."""
    file, bracket, tensor = path.partition("[")
    return file + bracket + tensor.replace(f".{layer}.", ".N.", 1)


def past_layers(layer: int) -> str:
    return f"layer {layer} is past any model's layers (0..{MAX_LAYERS - 1}): not read as a layer"


class FoundScale(NamedTuple):
    """A scale tensor the table names, and what was read of it (one for each scale of a checkpoint)."""

    file: str
    named: NamedScale
    dtype: str
    shape: tuple[int, ...]
    # None when the tensor cannot be read as a scale (its dtype or shape):
    # that is already reported.
    values: tuple[float, ...] | None
    # False when some value is not finite or not > 0 (also reported).
    sound: bool

    @property
    def where(self) -> str:
        return tensor_path(self.file, self.named.tensor)

    @property
    def per_head(self) -> bool:
        return any(size != 1 for size in self.shape)


@attrs.define
class Scan:
    scales: list[FoundScale] = attrs.Factory(list)
    # Scale-like names the table does not know, as `file["tensor"]`, and the layers they name.
    unknown: list[str] = attrs.Factory(list)
    unknown_layers: dict[str, int] = attrs.Factory(dict)
    # How many tensors were looked at, and in what, for "found none" messages.
    tensor_count: int = 0
    unreadable_files: int = 0
    # Whether some file could not be read at all (as opposed to read and found broken).
    unreadable_input: bool = False
    # Layers whose scales the index places in a file that cannot be read: that
    # is reported once, not again as layers without scales.
    unread_layers: set[int] = attrs.Factory(set)


def scan(layout: Layout, config: ModelConfig, problems: list[Problem]) -> Scan:
    """Every tensor the table names as a KV-cache scale, read and checked."""
    found = Scan()
    if layout.broken_index:
        return found
    if layout.kind == "index" and layout.weight_map is not None:
        found.tensor_count = len(layout.weight_map)
        # Each name is matched against the table once; the rest reads this.
        named = _named(layout.weight_map, config)
        by_file: dict[str, list[tuple[str, NamedScale | None]]] = {}
        for tensor, one in named:
            if one is not None or looks_like_scale(tensor):
                by_file.setdefault(layout.weight_map[tensor], []).append((tensor, one))
        for file, wanted in sorted(by_file.items()):
            opened = _open(layout, file, problems, found, wanted)
            if opened is None:
                found.unread_layers.update(one.layer for _, one in wanted if one is not None)
                continue
            header, handle = opened
            with handle:
                _take(found, config, problems, file, header, wanted, handle)
        return found
    for file in layout.files:
        opened = _open(layout, file, problems, found, None)
        if opened is None:
            continue
        header, handle = opened
        found.tensor_count += len(header.tensors)
        with handle:
            _take(found, config, problems, file, header, _named(header.tensors, config), handle)
    return found


def _named(tensors: Iterable[str], config: ModelConfig) -> list[tuple[str, NamedScale | None]]:
    """The table's reading of each tensor that may be a scale (named one, or like one), layer
    by layer, then by name: the order problems are listed in."""
    family = config.family
    named = [(tensor, name_scale(tensor, family)) for tensor in scale_like(tensors)]
    return sorted(named, key=_order)


def _order(item: tuple[str, NamedScale | None]) -> tuple[int, str]:
    tensor, named = item
    return (-1 if named is None else named.layer), tensor


def _open(
    layout: Layout,
    file: str,
    problems: list[Problem],
    found: Scan,
    wanted: list[tuple[str, NamedScale | None]] | None,
) -> tuple[Header, OpenFile] | None:
    """The shard's header, and the shard open for its scales' bytes (the caller closes it);
    None, with the problem said, when it cannot be read. `wanted`: the tensors the index
    places in it, with their readings (None without an index)."""
    path = os.path.join(layout.folder, file)
    stream = None
    try:
        stream = open_file(path)
        return read_header(path, file, stream), stream
    except HeaderError as error:
        problems.extend(error.problems)
    except FileNotFoundError:
        kind = what_is(Path(path))
        if wanted is not None and kind == "not there":
            first = orjson.dumps(wanted[0][0]).decode()
            more = f" and {len(wanted) - 1} more scale tensors" if len(wanted) > 1 else ""
            problems.append(Problem(file, f"no such file, but {INDEX_NAME} places {first}{more} in it"))
        else:
            problems.append(Problem(file, f"cannot read: {kind}, not a file"))
            found.unreadable_input = True
    except OSError as error:
        problems.append(Problem(file, f"cannot read: {error.strerror or error}"))
        found.unreadable_input = True
    if stream is not None:
        stream.close()
    found.unreadable_files += 1
    return None


def _take(
    found: Scan,
    config: ModelConfig,
    problems: list[Problem],
    file: str,
    header: Header,
    wanted: list[tuple[str, NamedScale | None]],
    handle: OpenFile,
) -> None:
    """Record each tensor of `wanted` that the file holds, with what the table names it (None:
    not a scale it knows)."""
    tensors, scales = header.tensors, found.scales
    for tensor, named in wanted:
        if tensor not in tensors:
            message = f"no such tensor in the file, but {INDEX_NAME} places it there"
            problems.append(Problem(tensor_path(file, tensor), message, layer=tensor_layer(tensor)))
            continue
        if named is None:
            if looks_like_scale(tensor):
                where = tensor_path(file, tensor)
                found.unknown.append(where)
                layer = tensor_layer(tensor)
                if layer is not None:
                    found.unknown_layers[where] = layer
            continue
        if named.layer >= MAX_LAYERS:
            problems.append(Problem(tensor_path(file, tensor), past_layers(named.layer)))
            continue
        info = tensors[tensor]
        quick = sound_per_tensor(info, handle)
        if quick is not None:
            scales.append(FoundScale(file, named, info.dtype, info.shape, quick, True))
            continue
        where = tensor_path(file, tensor)
        heads, heads_key = _head_count(named.kind, config)
        read = scale_values(problems, where, header, info, heads, heads_key, handle, layer=named.layer)
        values, sound = (None, False) if read is None else read
        scales.append(FoundScale(file, named, info.dtype, info.shape, values, sound))


def sound_per_tensor(info: TensorInfo, file: OpenFile) -> tuple[float] | None:
    """The value of a one-value float scale, when it is finite and > 0; None for any other
    tensor, or one that cannot be read. The common case, in fewer steps than `scale_values`
    takes: that gives the same value for it, and words what is wrong with any other."""
    value = read_one_float(info, file)
    return (value,) if value is not None and 0.0 < value < math.inf else None


def scale_values(
    problems: list[Problem],
    where: str,
    header: Header,
    info: TensorInfo,
    heads: int | None,
    heads_key: str,
    file: OpenFile,
    layer: int | None = None,
) -> tuple[tuple[float, ...], bool] | None:
    """The values of a scale tensor, one per tensor or one per head (`heads`,
    from config.json's `heads_key`; None: per tensor only), and whether all are
    sound, with a problem for each that is not finite and > 0; None, with its
    problems, when the tensor's dtype or shape is not a scale's or its bytes
    cannot be read. The problems carry `layer`, the layer the tensor belongs to."""
    messages = []
    if info.dtype not in FLOAT_DTYPES:
        messages.append(f"expected a scale stored as F16, BF16, F32 or F64, got {info.dtype}")
    # Engines flatten a scale tensor: llm-compressor writes per-head scales as [heads, 1, 1].
    sizes = [size for size in info.shape if size != 1]
    if sizes and sizes != [heads]:
        shape = list(info.shape)
        if heads is None:
            messages.append(
                f"expected a per-tensor scale (one value, such as shape [] or [1]), got shape {shape}"
            )
        else:
            messages.append(
                f"expected a per-tensor scale (one value, such as shape [] or [1]) or one per head "
                f"(shape [{heads}] or [{heads}, 1, 1]: config.json {heads_key} is {heads}), got shape {shape}"
            )
    if messages:
        problems.extend(Problem(where, message, layer=layer) for message in messages)
        return None
    try:
        values = read_floats(header, info, file)
    except OSError as error:
        problems.append(Problem(where, f"cannot read: {error}", layer=layer))
        return None
    sound = True
    for head, value in enumerate(values):
        if not 0.0 < value < math.inf:
            sound = False
            what = "scale" if len(values) == 1 else f"scale of head {head}"
            shown = describe(shortest(value, info.dtype))
            problems.append(Problem(where, f"{what} must be a finite number > 0, got {shown}", layer=layer))
    return values, sound


def _head_count(kind: str, config: ModelConfig) -> tuple[int | None, str]:
    if kind == "q":
        return config.num_attention_heads, "num_attention_heads"
    if kind in ("k", "v", "kv"):
        return config.num_key_value_heads, "num_key_value_heads"
    return None, ""
