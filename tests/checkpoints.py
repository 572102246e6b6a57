"""Small FP8-style checkpoints on disk, for the extraction tests.

`write_checkpoint(folder, {layer: (k, v)})` writes safetensors shards (with an
index when there are several), a config.json and a few weight tensors beside
the scales; `write_legacy_checkpoint(folder, {rank: {layer: scale}})` writes
the older one-file-per-TP-rank layout. `stored(value, dtype)` is the value a
reader gets back from a scale written with that dtype.

numpy has no bfloat16, so BF16 tensors (see `bf16`) and tensors of zeros that
take no disk space (see `zeros`) are written by `write_safetensors` itself,
byte by byte; files without them go through `safetensors.numpy.save_file`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import attrs
import numpy as np
from numpy.typing import ArrayLike
from safetensors.numpy import save_file

from quant_configs import compressed_tensors_config, fp8_config, modelopt_flat_config

__all__ = [
    "INDEX_NAME",
    "Dtype",
    "Raw",
    "Style",
    "bf16",
    "config_for",
    "scale_name",
    "shard_names",
    "stored",
    "write_checkpoint",
    "write_legacy_checkpoint",
    "write_safetensors",
    "zeros",
]

Dtype = Literal["F16", "BF16", "F32", "F64"]
Style = Literal["k_v", "kv", "modelopt"]

INDEX_NAME = "model.safetensors.index.json"

_NUMPY_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64}
_ITEM_SIZES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I32": 4, "U8": 1, "F8_E4M3": 1}
_NAMES = {
    "k_v": ("self_attn.k_scale", "self_attn.v_scale"),
    "modelopt": ("self_attn.k_proj.k_scale", "self_attn.v_proj.v_scale"),
}


@attrs.frozen
class Raw:
    """A tensor given as its safetensors dtype, shape and little-endian bytes.

    `data=None` stands for zeros that `write_safetensors` leaves as a hole in
    a sparse file: a many-gigabyte tensor that costs no disk space or time.
    """

    dtype: str
    shape: tuple[int, ...]
    data: bytes | None

    @property
    def nbytes(self) -> int:
        return _ITEM_SIZES[self.dtype] * int(np.prod(self.shape, dtype=np.int64))


def bf16(values: ArrayLike, shape: tuple[int, ...] | None = None) -> Raw:
    """BF16 tensor of `values` (rounded to nearest even, as PyTorch does)."""
    array = np.asarray(values, dtype=np.float32)
    bits = array.reshape(-1).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")
    return Raw("BF16", array.shape if shape is None else shape, rounded.tobytes())


def zeros(dtype: str, shape: tuple[int, ...]) -> Raw:
    return Raw(dtype, shape, None)


def stored(value: float, dtype: Dtype) -> float:
    """The value a reader gets back from a scale written as `dtype`."""
    if dtype == "BF16":
        data = bf16(value).data
        return float(struct.unpack("<f", b"\x00\x00" + (data or b""))[0])
    return float(_NUMPY_DTYPES[dtype](value))


def scale_name(layer: int, kind: Literal["k", "v", "kv"], style: Style = "k_v", prefix: str = "") -> str:
    """The tensor name of a layer's k, v or single kv scale in `style`."""
    if kind == "kv":
        return f"{prefix}model.layers.{layer}.self_attn.kv_scale"
    k_name, v_name = _NAMES["k_v" if style == "kv" else style]
    return f"{prefix}model.layers.{layer}.{k_name if kind == 'k' else v_name}"


# Under an fp8 config with static KV-cache scales vLLM uses k's value for a v it lacks; each
# style's own producer writes the config its checkpoints get by default.
_STYLE_CONFIGS = {"k_v": compressed_tensors_config, "kv": fp8_config, "modelopt": modelopt_flat_config}
# config_for's default: read only, and copied into each config.
_FP8 = fp8_config()


def config_for(
    num_layers: int, model_type: str = "llama", quantization: Mapping[str, object] | None = _FP8
) -> dict[str, object]:
    config: dict[str, object] = {"model_type": model_type, "num_hidden_layers": num_layers, "hidden_size": 8}
    if quantization is not None:
        config["quantization_config"] = dict(quantization)
    return config


def shard_names(shards: int) -> list[str]:
    if shards == 1:
        return ["model.safetensors"]
    return [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]


def write_safetensors(path: Path, tensors: Mapping[str, np.ndarray | Raw]) -> Path:
    """One safetensors file; hand-built when a tensor is a `Raw`, else by safetensors."""
    if not any(isinstance(t, Raw) for t in tensors.values()):
        save_file(dict(tensors), path)  # type: ignore[arg-type]
        return path
    raws = {name: t if isinstance(t, Raw) else _raw(t) for name, t in tensors.items()}
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, raw in raws.items():
        header[name] = {
            "dtype": raw.dtype,
            "shape": list(raw.shape),
            "data_offsets": [offset, offset + raw.nbytes],
        }
        offset += raw.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(text)) + text)
        for raw in raws.values():
            if raw.data is None:
                file.seek(raw.nbytes, 1)
            else:
                file.write(raw.data)
        file.truncate(8 + len(text) + offset)
    return path


def _raw(array: np.ndarray) -> Raw:
    dtype = {np.dtype(v): k for k, v in _NUMPY_DTYPES.items()}.get(array.dtype)
    if dtype is None:
        dtype = {np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8"}[array.dtype]
    return Raw(
        dtype, tuple(array.shape), np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    )


def _scale_tensor(value: float, dtype: Dtype, shape: tuple[int, ...]) -> np.ndarray | Raw:
    if dtype == "BF16":
        return bf16(np.full(shape, value, dtype=np.float32))
    return np.full(shape, value, dtype=_NUMPY_DTYPES[dtype])


def write_checkpoint(
    folder: Path,
    scales: Mapping[int, tuple[float | None, float | None] | float],
    *,
    style: Style = "k_v",
    shards: int = 1,
    index: bool | None = None,
    dtype: Dtype = "F32",
    shape: tuple[int, ...] = (),
    config: Mapping[str, object] | Literal["auto"] | None = "auto",
    prefix: str = "",
    extra_tensors: Mapping[str, np.ndarray | Raw] | None = None,
) -> Path:
    """An FP8-style checkpoint in `folder` (created if needed); returns `folder`.

    `scales` maps a layer to `(k, v)` for styles "k_v" (`self_attn.k_scale`)
    and "modelopt" (`self_attn.k_proj.k_scale`), `None` leaving that tensor
    out; or to one float for style "kv" (`self_attn.kv_scale`). Scales are
    written as `dtype` with `shape`, after `prefix`.

    Layers are split into `shards` files in order, each with a small weight
    per layer; `extra_tensors` go round-robin into the shards. An index
    (`model.safetensors.index.json`) is written when `index` is true, by
    default when there are several shards. `config="auto"` writes a llama
    config.json with one layer per key of `scales` and the quantization config
    of the style's producer (`quant_configs`); None writes none.
    """
    folder.mkdir(parents=True, exist_ok=True)
    names = shard_names(shards)
    contents: list[dict[str, np.ndarray | Raw]] = [{} for _ in names]
    layers = sorted(scales)
    for position, layer in enumerate(layers):
        shard = contents[position * shards // max(len(layers), 1)]
        shard[f"{prefix}model.layers.{layer}.self_attn.o_proj.weight"] = np.ones((4, 4), np.float32)
        value = scales[layer]
        if style == "kv":
            if not isinstance(value, (int, float)):
                raise TypeError(f'style "kv" takes one scale per layer, got {value!r}')
            shard[scale_name(layer, "kv", style, prefix)] = _scale_tensor(value, dtype, shape)
            continue
        if isinstance(value, (int, float)):
            raise TypeError(f'style "{style}" takes (k, v) per layer, got {value!r}')
        for kind, one in zip(("k", "v"), value):
            if one is not None:
                shard[scale_name(layer, kind, style, prefix)] = _scale_tensor(one, dtype, shape)  # type: ignore[arg-type]
    contents[0][f"{prefix}model.embed_tokens.weight"] = np.zeros((8, 4), np.float32)
    for position, (name, tensor) in enumerate((extra_tensors or {}).items()):
        contents[position % shards][name] = tensor
    for name, tensors in zip(names, contents):
        write_safetensors(folder / name, tensors)
    if index if index is not None else shards > 1:
        weight_map = {tensor: name for name, tensors in zip(names, contents) for tensor in tensors}
        total = sum((folder / name).stat().st_size for name in names)
        document = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (folder / INDEX_NAME).write_text(json.dumps(document, indent=2))
    if config == "auto":
        config = config_for(len(layers), quantization=_STYLE_CONFIGS[style]())
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def write_legacy_checkpoint(
    folder: Path,
    ranks: Mapping[int, Mapping[int, float]],
    *,
    dtype: Dtype = "F32",
    config: Mapping[str, object] | None = None,
    name: str = "model.layers.{layer}.self_attn.kv_cache_scaling_factor",
) -> Path:
    """The older per-rank layout: `rank{r}.safetensors` holding `name` for each layer."""
    folder.mkdir(parents=True, exist_ok=True)
    for rank, layers in ranks.items():
        tensors: dict[str, np.ndarray | Raw] = {"model.embed_tokens.weight": np.zeros((8, 4), np.float32)}
        for layer, value in layers.items():
            tensors[name.format(layer=layer)] = _scale_tensor(value, dtype, (1,))
        write_safetensors(folder / f"rank{rank}.safetensors", tensors)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder
