"""Build the KV-cache scaling-factor file from an FP8 checkpoint's safetensors files.

FP8 checkpoints today keep their per-layer KV-cache scales as scalar tensors
beside the weights. `extract_scales` reads only those tensors (never the
weights) and returns a validated `QuantParamSchema`.

Layouts, in the order they are tried:

1. `model.safetensors.index.json` present: its `weight_map` says which file
   holds which tensor; only the files that hold scale tensors are opened.
2. Files `rank0.safetensors`, `rank1.safetensors`, ... (the older per-rank
   export): one file per TP rank, the rank taken from the file name. Every
   tensor whose name contains `kv_cache_scaling_factor` is a scale; its layer
   is the number in the `layers.N.` part of its name. The TP size is the
   number of files.
3. Otherwise every `*.safetensors` file in the folder.

Accepted scale names in layouts 1 and 3 (`N` is the layer index):

- `model.layers.N.self_attn.k_scale` and `model.layers.N.self_attn.v_scale`
- `model.layers.N.self_attn.kv_scale`: one scale for both, used as is
- `model.layers.N.self_attn.k_proj.k_scale` and
  `model.layers.N.self_attn.v_proj.v_scale` (NVIDIA ModelOpt exports)

`model.layers` may also be spelled `language_model.layers`, and any
dot-separated prefix may come before it (`language_model.model.layers.N...`,
`model.language_model.layers.N...`), as in multimodal checkpoints. Other
layer stacks (`vision_model.encoder.layers.N...`) are not read.

Scales are stored as F16, BF16, F32 or F64 scalars (shape `[]` or `[1]`).
numpy has no bfloat16, so safetensors cannot hand a BF16 tensor over as a
numpy array: its two bytes are read from the file at the offsets that the
file's header gives, and widened to a float32 exactly.

`config.json`, when present, gives `model_type` and `num_hidden_layers`; in a
multimodal config the ones in `text_config` win, since the language model is
what keeps a KV cache. Without it, the layers are 0 up to the highest found.

Anything short of one sound scale for every layer raises `ExtractError`
naming the file and tensor: the result is never empty or partial.
"""

from __future__ import annotations

import errno
import math
import os
import re
import struct
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import attrs
import orjson

from ._context import ValidationContext
from ._errors import Problem, QuantParamError, describe
from ._format import FP8_DTYPE
from ._maps import LayerScales
from ._schema import KVCacheQuantSchema, QuantParamSchema

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "DEFAULT_OUTPUT_NAME",
    "ExtractError",
    "Extraction",
    "MissingExtraError",
    "extract",
    "extract_scales",
]

DEFAULT_OUTPUT_NAME = "kv_cache_scales.json"
INDEX_NAME = "model.safetensors.index.json"
CONFIG_NAME = "config.json"

Reduce = Literal["max", "k", "v"]

_SCALE_NAME = re.compile(
    r"(?:.+\.)?(?:model|language_model)\.layers\.(?P<layer>[0-9]+)\.self_attn\."
    r"(?P<name>k_scale|v_scale|kv_scale|k_proj\.k_scale|v_proj\.v_scale)"
)
_KIND_OF_NAME = {
    "k_scale": "k",
    "v_scale": "v",
    "kv_scale": "kv",
    "k_proj.k_scale": "k",
    "v_proj.v_scale": "v",
}
_ACCEPTED_NAMES = (
    "model.layers.N.self_attn.k_scale / v_scale / kv_scale or "
    "model.layers.N.self_attn.k_proj.k_scale / v_proj.v_scale, after any prefix"
)
# Names a person would take for a KV-cache scale; listed when none is accepted,
# so that a new naming scheme is spotted rather than reported as "no scales".
_LOOKS_LIKE_SCALE = re.compile(r"(?:^|\.)(?:k_scale|v_scale|kv_scale)$|kv_cache_scaling_factor")

_RANK_FILE = re.compile(r"rank([0-9]+)\.safetensors")
_LEGACY_SCALE = "kv_cache_scaling_factor"
_LEGACY_LAYER = re.compile(r"(?:^|\.)layers\.([0-9]+)\.")

_SCALE_DTYPES = ("F16", "BF16", "F32", "F64")
_SCALAR_SHAPES: tuple[list[int], ...] = ([], [1])

# Longest list of layer runs or names quoted in one message.
_SHOWN = 8


class ExtractError(QuantParamError):
    """The checkpoint does not hold one sound KV-cache scale per layer.

    Each problem's path names the file, and the tensor when there is one:
    `model-00001-of-00002.safetensors["model.layers.3.self_attn.k_scale"]`.
    `source` is the checkpoint folder.
    """


class MissingExtraError(ImportError):
    """safetensors or numpy, which extraction needs, is not installed."""


@attrs.frozen
class Extraction:
    """What `extract` made of a checkpoint."""

    schema: QuantParamSchema
    # True when some layer's scale was made from separate k and v scales, as
    # `reduce` says; False when every layer had one kv scale, used as stored,
    # so that `reduce` played no part.
    reduced: bool


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
    read, `ExtractError` when its contents are not a sound set of scales, and
    `MissingExtraError` without safetensors and numpy.
    """
    return extract(checkpoint, tp_size=tp_size, reduce=reduce, model_type=model_type).schema


def extract(
    checkpoint: str | os.PathLike[str],
    *,
    tp_size: int = 1,
    reduce: Reduce = "max",
    model_type: str | None = None,
) -> Extraction:
    """`extract_scales`, also telling whether `reduce` played a part."""
    _check_arguments(tp_size, reduce, model_type)
    safetensors = _require_extras()
    folder = Path(checkpoint)
    if not folder.is_dir():
        os.stat(folder)  # raises the usual FileNotFoundError when it is missing
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), os.fspath(checkpoint))

    reader = _Reader(folder, safetensors)
    config = _read_config(folder, reader.problems)
    if (folder / INDEX_NAME).is_file():
        ranks = _from_index(reader, reduce, config)
    else:
        names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".safetensors") and p.is_file())
        rank_files = [name for name in names if _RANK_FILE.fullmatch(name)]
        if rank_files:
            ranks = _from_rank_files(reader, names, rank_files, tp_size, config)
        else:
            ranks = _from_files(reader, names, reduce, config)
    if reader.problems or not ranks:
        raise ExtractError(
            reader.problems or [Problem("*.safetensors", "found no KV-cache scales")], os.fspath(checkpoint)
        )

    if len(ranks) == 1 and tp_size > 1:
        shared = ranks[0]
        ranks = dict.fromkeys(range(tp_size), shared)
    final_type = model_type if model_type is not None else config.model_type
    schema = QuantParamSchema(final_type, KVCacheQuantSchema(FP8_DTYPE, ranks))
    layer_count = len(ranks[0])
    for rank in ranks:
        schema.validate(ValidationContext(len(ranks), rank, layer_count, final_type))
    return Extraction(schema, reader.reduced)


def _check_arguments(tp_size: object, reduce: object, model_type: object) -> None:
    if not (isinstance(tp_size, int) and not isinstance(tp_size, bool) and tp_size >= 1):
        raise ValueError(f"tp_size must be an integer >= 1, got {describe(tp_size)}")
    if reduce not in ("max", "k", "v"):
        raise ValueError(f'reduce must be "max", "k" or "v", got {describe(reduce)}')
    if not (model_type is None or isinstance(model_type, str)):
        raise ValueError(f"model_type must be a string or None, got {describe(model_type)}")


def _require_extras() -> ModuleType:
    try:
        # safe_open(framework="numpy") imports numpy only when a tensor is
        # first read; importing it here reports its absence up front.
        import numpy  # noqa: F401
        import safetensors
    except ImportError as error:
        missing = error.name or "safetensors or numpy"
        raise MissingExtraError(
            f"extracting scales from a checkpoint needs safetensors and numpy, and {missing} "
            "is not installed: pip install 'quantparams[extract]'",
            name=error.name,
        ) from error
    return safetensors


# ---------------------------------------------------------------- config.json


@attrs.frozen
class _Config:
    model_type: str | None = None
    num_layers: int | None = None
    # Where num_layers came from, for messages: `config.json num_hidden_layers`.
    layers_source: str = ""

    def expected_layers(self) -> tuple[int, str] | None:
        if self.num_layers is None:
            return None
        return self.num_layers, f"{self.layers_source} is {self.num_layers}"


def _read_config(folder: Path, problems: list[Problem]) -> _Config:
    try:
        data = (folder / CONFIG_NAME).read_bytes()
    except FileNotFoundError:
        return _Config()
    try:
        config = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        problems.append(Problem(CONFIG_NAME, f"not valid JSON: {error}"))
        return _Config()
    if not isinstance(config, dict):
        problems.append(Problem(CONFIG_NAME, f"expected a JSON object, got {describe(config)}"))
        return _Config()

    def setting(key: str) -> tuple[str, object]:
        text = config.get("text_config")
        if isinstance(text, dict) and key in text:
            return f"text_config.{key}", text[key]
        return key, config.get(key)

    layers_key, layers = setting("num_hidden_layers")
    if layers is not None and not (type(layers) is int and layers >= 1):
        problems.append(Problem(CONFIG_NAME, f"{layers_key} must be an integer >= 1, got {describe(layers)}"))
        layers = None
    type_key, model_type = setting("model_type")
    if model_type is not None and not isinstance(model_type, str):
        problems.append(Problem(CONFIG_NAME, f"{type_key} must be a string, got {describe(model_type)}"))
        model_type = None
    return _Config(model_type, layers, f"{CONFIG_NAME} {layers_key}")


# ------------------------------------------------------- reading scale tensors


class _Slice(Protocol):
    def get_dtype(self) -> str: ...
    def get_shape(self) -> list[int]: ...


class _SafeFile(Protocol):
    def keys(self) -> list[str]: ...
    def get_slice(self, name: str) -> _Slice: ...
    def get_tensor(self, name: str) -> NDArray[Any]: ...


class _SafeOpen(Protocol):
    def __enter__(self) -> _SafeFile: ...
    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None: ...


# (tensor name, layer, kind): a tensor to read, and what it is the scale of.
_Wanted = tuple[str, int, str]


@attrs.frozen
class _Scale:
    file: str
    tensor: str
    layer: int
    kind: str  # "k", "v" or "kv"
    # None when the tensor is unreadable or not a sound scale: that is already
    # reported, and the layer still counts as present so it is not reported
    # again as missing.
    value: float | None

    @property
    def where(self) -> str:
        return _tensor_path(self.file, self.tensor)


def _tensor_path(file: str, tensor: str) -> str:
    return f"{file}[{orjson.dumps(tensor).decode()}]"


class _Reader:
    """Reads scale tensors from one folder's files, gathering every problem."""

    def __init__(self, folder: Path, safetensors: ModuleType) -> None:
        self.folder = folder
        self.problems: list[Problem] = []
        # Whether some layer had no single kv scale, so `reduce` chose its scale.
        self.reduced = False
        self._safetensors = safetensors

    def read(self, file: str, pick: Callable[[list[str]], list[_Wanted]]) -> list[_Scale] | None:
        """The scales `pick` chooses among the file's tensor names; None if unreadable."""
        path = self.folder / file
        try:
            handle = cast(_SafeOpen, self._safetensors.safe_open(path, framework="numpy"))
        except self._safetensors.SafetensorError as error:
            self.problems.append(Problem(file, f"not a readable safetensors file: {error}"))
            return None
        with handle as tensors:
            raw = _RawScalars(path)
            return [
                _Scale(file, tensor, layer, kind, self._scalar(tensors, raw, file, tensor))
                for tensor, layer, kind in pick(tensors.keys())
            ]

    def _scalar(self, tensors: _SafeFile, raw: _RawScalars, file: str, tensor: str) -> float | None:
        where = _tensor_path(file, tensor)
        view = tensors.get_slice(tensor)
        dtype, shape = view.get_dtype(), list(view.get_shape())
        problems = []
        if dtype not in _SCALE_DTYPES:
            problems.append(f"expected a scale stored as F16, BF16, F32 or F64, got {dtype}")
        if shape not in _SCALAR_SHAPES:
            problems.append(f"expected a per-tensor scale (shape [] or [1]), got shape {shape}")
        if problems:
            self.problems += [Problem(where, message) for message in problems]
            return None
        if dtype == "BF16":
            value = raw.bf16(tensor)
            if value is None:
                self.problems.append(Problem(where, "cannot find the BF16 scale's bytes in the file"))
                return None
        else:
            value = float(tensors.get_tensor(tensor).item())
        if not 0.0 < value < math.inf:
            self.problems.append(Problem(where, f"scale must be a finite number > 0, got {describe(value)}"))
            return None
        return value


class _RawScalars:
    """One file's scalars read straight from its bytes, for dtypes numpy lacks.

    The format: an 8-byte little-endian header length, a JSON header giving
    each tensor's dtype, shape and data_offsets (relative to the end of the
    header), then the data, little-endian. safe_open has already checked that
    header, so only what a concurrent rewrite could break is checked here.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._header: tuple[int, dict[str, Any]] | None = None

    def bf16(self, tensor: str) -> float | None:
        try:
            with open(self._path, "rb") as file:
                if self._header is None:
                    (length,) = struct.unpack("<Q", file.read(8))
                    self._header = (8 + length, orjson.loads(file.read(length)))
                data_start, header = self._header
                begin, end = header[tensor]["data_offsets"]
                file.seek(data_start + begin)
                data = file.read(end - begin)
        except (KeyError, TypeError, ValueError, struct.error):
            return None
        if len(data) != 2:
            return None
        # A bfloat16 is the upper half of the float32 with the same bits.
        (value,) = struct.unpack("<f", b"\x00\x00" + data)
        return cast(float, value)


# -------------------------------------------------------------------- layouts


def _modern_name(tensor: str) -> tuple[int, str] | None:
    match = _SCALE_NAME.fullmatch(tensor)
    if match is None:
        return None
    return int(match["layer"]), _KIND_OF_NAME[match["name"]]


def _from_index(reader: _Reader, reduce: Reduce, config: _Config) -> dict[int, LayerScales]:
    index = reader.folder / INDEX_NAME
    try:
        document = orjson.loads(index.read_bytes())
    except orjson.JSONDecodeError as error:
        reader.problems.append(Problem(INDEX_NAME, f"not valid JSON: {error}"))
        return {}
    weight_map = document.get("weight_map") if isinstance(document, dict) else None
    if not isinstance(weight_map, dict):
        message = 'expected an object with a "weight_map" object mapping tensor names to file names'
        reader.problems.append(Problem(INDEX_NAME, message))
        return {}

    by_file: dict[str, list[_Wanted]] = {}
    for tensor, file in weight_map.items():
        found = _modern_name(tensor)
        if found is None:
            continue
        if not isinstance(file, str):
            reader.problems.append(
                Problem(
                    INDEX_NAME,
                    f"weight_map[{orjson.dumps(tensor).decode()}] must be a file name, got {describe(file)}",
                )
            )
            continue
        by_file.setdefault(file, []).append((tensor, *found))
    if not by_file:
        reader.problems.append(Problem(INDEX_NAME, _none_found(weight_map, "its weight_map")))
        return {}

    scales: list[_Scale] = []
    for file, wanted in sorted(by_file.items()):
        wanted.sort(key=_layer_order)
        unread = [_Scale(file, tensor, layer, kind, None) for tensor, layer, kind in wanted]
        if not (reader.folder / file).is_file():
            first = orjson.dumps(wanted[0][0]).decode()
            more = f" and {len(wanted) - 1} more scale tensors" if len(wanted) > 1 else ""
            reader.problems.append(
                Problem(file, f"no such file, but {INDEX_NAME} places {first}{more} in it")
            )
            scales += unread
            continue

        def pick(keys: list[str], file: str = file, wanted: list[_Wanted] = wanted) -> list[_Wanted]:
            present = set(keys)
            for tensor, _, _ in wanted:
                if tensor not in present:
                    reader.problems.append(
                        Problem(
                            _tensor_path(file, tensor),
                            f"no such tensor in the file, but {INDEX_NAME} places it there",
                        )
                    )
            return [entry for entry in wanted if entry[0] in present]

        read = reader.read(file, pick)
        scales += unread if read is None else read
    layers = _layer_map(reader, scales, reduce, config.expected_layers(), INDEX_NAME)
    return {0: layers} if layers is not None else {}


def _from_files(reader: _Reader, names: list[str], reduce: Reduce, config: _Config) -> dict[int, LayerScales]:
    if not names:
        reader.problems.append(Problem("*.safetensors", "no safetensors files in the checkpoint folder"))
        return {}
    scales: list[_Scale] = []
    seen: list[str] = []
    any_unreadable = False

    def pick(keys: list[str]) -> list[_Wanted]:
        seen.extend(keys)
        wanted = []
        for tensor in keys:
            found = _modern_name(tensor)
            if found is not None:
                wanted.append((tensor, *found))
        return sorted(wanted, key=_layer_order)

    for file in names:
        read = reader.read(file, pick)
        any_unreadable |= read is None
        scales += read or []
    if not scales:
        if not any_unreadable:
            what = "the file" if len(names) == 1 else f"the {len(names)} files"
            reader.problems.append(Problem("*.safetensors", _none_found(seen, what)))
        return {}
    layers = _layer_map(reader, scales, reduce, config.expected_layers(), "*.safetensors")
    return {0: layers} if layers is not None else {}


def _from_rank_files(
    reader: _Reader, names: list[str], rank_files: list[str], tp_size: int, config: _Config
) -> dict[int, LayerScales]:
    where = "rank*.safetensors"
    others = [name for name in names if name not in rank_files]
    if others:
        message = (
            f"per-rank files ({_quote_list(rank_files)}) sit beside other safetensors files "
            f"({_quote_list(others)}): cannot tell which layout to read"
        )
        reader.problems.append(Problem("*.safetensors", message))
        return {}
    by_rank: dict[int, str] = {}
    for name in rank_files:
        rank = int(cast("re.Match[str]", _RANK_FILE.fullmatch(name))[1])
        if rank in by_rank:
            reader.problems.append(Problem(name, f"TP rank {rank} already has {by_rank[rank]}"))
            continue
        by_rank[rank] = name
    count = max(by_rank) + 1
    missing = [f"rank{rank}.safetensors" for rank in range(count) if rank not in by_rank]
    if missing:
        message = (
            f"no {_quote_list(missing)}: per-rank files must be rank0..rank{count - 1} for TP size {count}"
        )
        reader.problems.append(Problem(where, message))
    if tp_size not in (1, count):
        message = f"tp_size is {tp_size} but the checkpoint has per-rank files for TP size {count}"
        reader.problems.append(Problem(where, message))

    read_by_rank: dict[int, list[_Scale]] = {}
    for rank, file in sorted(by_rank.items()):

        def pick(keys: list[str], file: str = file) -> list[_Wanted]:
            wanted: list[_Wanted] = []
            for tensor in keys:
                if _LEGACY_SCALE not in tensor:
                    continue
                match = _LEGACY_LAYER.search(tensor)
                if match is None:
                    message = 'cannot tell the layer: the name has no "layers.N." part'
                    reader.problems.append(Problem(_tensor_path(file, tensor), message))
                    continue
                wanted.append((tensor, int(match[1]), "kv"))
            if not wanted and not any(_LEGACY_SCALE in tensor for tensor in keys):
                reader.problems.append(Problem(file, f"no tensor named like *.{_LEGACY_SCALE}"))
            return sorted(wanted, key=_layer_order)

        read = reader.read(file, pick)
        if read:
            read_by_rank[rank] = read
    if not read_by_rank:
        return {}
    # Every rank needs the same layers: without config.json, those up to the
    # highest layer found in any rank.
    expected = config.expected_layers()
    if expected is None:
        highest = max(scale.layer for scales in read_by_rank.values() for scale in scales)
        expected = (highest + 1, f"scales were found up to layer {highest} in some rank")
    ranks = {}
    for rank, scales in read_by_rank.items():
        layers = _layer_map(reader, scales, "max", expected, by_rank[rank])
        if layers is not None:
            ranks[rank] = layers
    return ranks


def _layer_order(wanted: _Wanted) -> tuple[int, str]:
    return wanted[1], wanted[0]


# ---------------------------------------------------------- one scale a layer


def _layer_map(
    reader: _Reader,
    scales: list[_Scale],
    reduce: Reduce,
    expected: tuple[int, str] | None,
    where: str,
) -> LayerScales | None:
    """One scale per layer 0..L-1, or None with every problem added to the reader's.

    `expected` is the layer count L and why; without it, L is one past the
    highest layer found.
    """
    problems = reader.problems
    count_before = len(problems)
    by_layer: dict[int, dict[str, _Scale]] = {}
    for scale in scales:
        kinds = by_layer.setdefault(scale.layer, {})
        clashes = [kinds[kind] for kind in _clashing(scale.kind) if kind in kinds]
        if clashes:
            first = clashes[0]
            message = (
                f"duplicate KV-cache scale for layer {scale.layer}: "
                f"a {first.kind} scale was already found in {first.where}"
            )
            problems.append(Problem(scale.where, message))
            continue
        kinds[scale.kind] = scale

    values: dict[int, float] = {}
    for layer, kinds in sorted(by_layer.items()):
        if "kv" not in kinds:
            reader.reduced = True
        value = _reduce(problems, layer, kinds, reduce)
        if value is not None:
            values[layer] = value

    if expected is None:
        highest = max(by_layer)
        expected = (highest + 1, f"scales were found up to layer {highest}")
    layer_count, basis = expected
    missing = [layer for layer in range(layer_count) if layer not in by_layer]
    if missing:
        message = f"no KV-cache scale for {_layers_text(missing)} (layers 0..{layer_count - 1} each need one: {basis})"
        problems.append(Problem(where, message))
    for layer in sorted(by_layer):
        if layer >= layer_count:
            first = next(iter(by_layer[layer].values()))
            message = f"layer {layer} is beyond the model's layers 0..{layer_count - 1} ({basis})"
            problems.append(Problem(first.where, message))
    if len(problems) > count_before:
        return None
    return LayerScales(values)


def _clashing(kind: str) -> tuple[str, ...]:
    # A single kv scale stands for both k and v, so it clashes with either.
    return ("k", "v", "kv") if kind == "kv" else (kind, "kv")


def _reduce(problems: list[Problem], layer: int, kinds: dict[str, _Scale], reduce: Reduce) -> float | None:
    if any(scale.value is None for scale in kinds.values()):
        return None
    if "kv" in kinds:
        return kinds["kv"].value
    k, v = kinds.get("k"), kinds.get("v")
    if reduce == "max":
        if k is not None and v is not None:
            return max(cast(float, k.value), cast(float, v.value))
        present = cast(_Scale, k or v)
        other = "v" if present.kind == "k" else "k"
        message = (
            f'layer {layer} has a {present.kind} scale but no {other} scale; reduce="max" needs both '
            f'(reduce="{present.kind}" takes the {present.kind} scale alone)'
        )
        problems.append(Problem(present.where, message))
        return None
    chosen = kinds.get(reduce)
    if chosen is None:
        present = cast(_Scale, k or v)
        message = f'layer {layer} has no {reduce} scale for reduce="{reduce}", only a {present.kind} scale'
        problems.append(Problem(present.where, message))
        return None
    return chosen.value


# ------------------------------------------------------------------- messages


def _none_found(names: Iterable[str], what: str) -> str:
    names = list(names)
    message = f"found no KV-cache scale tensors among the {len(names)} tensors of {what} (accepted names: {_ACCEPTED_NAMES})"
    lookalikes = [name for name in names if _LOOKS_LIKE_SCALE.search(name)]
    if lookalikes:
        message += f"; not accepted: {_quote_list(lookalikes)}"
    return message


def _quote_list(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _layers_text(layers: list[int]) -> str:
    """`layer 3`, or `layers 2..4, 7` for runs of consecutive layers."""
    if len(layers) == 1:
        return f"layer {layers[0]}"
    runs: list[list[int]] = []
    for layer in layers:
        if runs and layer == runs[-1][1] + 1:
            runs[-1][1] = layer
        else:
            runs.append([layer, layer])
    texts = [str(first) if first == last else f"{first}..{last}" for first, last in runs]
    return "layers " + _quote_list(texts)
