"""KV-cache scales in safetensors checkpoints: what engines will load, and the file made from them.

- `inspect_checkpoint(path, engines=...)`: layer by layer, the q, k, v and
  prob scales a checkpoint folder holds, what each engine release modelled
  (`engines/`: vLLM 0.33.0, SGLang 0.5.23) makes of them (whether it starts,
  and the values every attention layer runs with), and every problem (an
  engine that will not start, a layer it runs with 1.0, a scale no engine
  reads, an unsound value...) and warning. `path` may be a Hugging Face Hub
  model id (`hub/`).
- `extract(path, ...)` / `extract_scales(path, ...)`: the validated
  KV-cache scaling-factor file built from those tensors.
- For showing them: `EngineView` / `LayerView` / `ScaleView` (what an
  engine makes of the checkpoint) and `engine_line(view)`, its one-line
  summary; `tensor_path(file, tensor)`, the `file["tensor"]` that problems
  name (a problem of one layer has it as `Problem.layer`), and
  `layer_as_n(path, layer)`, that path with `N` for the layer;
  `resolve_folder(path)`, the folder whose files are read, and
  `hub_target(path)`, the Hub model a path names, if any.

Only the safetensors headers and the scale tensors' bytes are read, with
the standard library: neither numpy nor safetensors is needed.
"""

from .engines import EngineView, LayerView, ScaleView
from .engines.verdict import engine_line
from .extraction import DEFAULT_OUTPUT_NAME, ExtractError, Extraction, Reduce, extract, extract_scales
from .folder import UnreadableCheckpoint, resolve_folder
from .hub.target import hub_target
from .inspection import inspect_checkpoint
from .name_table import NAMINGS, VLLM_RELEASE, Naming
from .report import CheckpointInspection, CheckpointReport, LayerReport, ScaleEntry
from .scan import layer_as_n, tensor_path
from .scheme import KVCacheScheme

__all__ = [
    "DEFAULT_OUTPUT_NAME",
    "NAMINGS",
    "VLLM_RELEASE",
    "CheckpointInspection",
    "CheckpointReport",
    "EngineView",
    "ExtractError",
    "Extraction",
    "KVCacheScheme",
    "LayerReport",
    "LayerView",
    "Naming",
    "Reduce",
    "ScaleEntry",
    "ScaleView",
    "UnreadableCheckpoint",
    "engine_line",
    "extract",
    "extract_scales",
    "hub_target",
    "inspect_checkpoint",
    "layer_as_n",
    "resolve_folder",
    "tensor_path",
]
