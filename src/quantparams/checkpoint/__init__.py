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

Only the safetensors headers and the scale tensors' bytes are read, with
the standard library: neither numpy nor safetensors is needed.
"""

from .extraction import DEFAULT_OUTPUT_NAME, ExtractError, Extraction, Reduce, extract, extract_scales
from .inspection import inspect_checkpoint
from .naming import NAMINGS, VLLM_RELEASE, Naming
from .report import CheckpointInspection, CheckpointReport, LayerReport, ScaleEntry
from .scheme import KVCacheScheme

__all__ = [
    "DEFAULT_OUTPUT_NAME",
    "NAMINGS",
    "VLLM_RELEASE",
    "CheckpointInspection",
    "CheckpointReport",
    "ExtractError",
    "Extraction",
    "KVCacheScheme",
    "LayerReport",
    "Naming",
    "Reduce",
    "ScaleEntry",
    "extract",
    "extract_scales",
    "inspect_checkpoint",
]
