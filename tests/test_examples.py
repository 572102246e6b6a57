"""The checkpoints shipped under examples/, and what README.md says of checkpoints."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from quantparams.checkpoint import NAMINGS

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
README = (ROOT / "README.md").read_text()


def test_the_shipped_checkpoints_are_what_the_script_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_checkpoints", EXAMPLES / "make_checkpoints.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in ("llama-fp8", "llama-fp8-broken"):
        written = {path.name: path.read_bytes() for path in (tmp_path / name).iterdir()}
        shipped = {path.name: path.read_bytes() for path in (EXAMPLES / name).iterdir()}
        assert written == shipped


def test_the_readme_lists_every_naming() -> None:
    table = README[README.index("| checkpoint name ends with |") :].split("\n\n", 1)[0]
    rows = table.splitlines()[2:]
    assert len(rows) == len(NAMINGS) - 2  # HunYuan's two rows and the output-scale rows share one each
    for producer in {naming.producer for naming in NAMINGS}:
        assert any(producer.split(",")[0] in row or producer.split(" ")[0] in row for row in rows), producer


def test_the_readme_python_checkpoint_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start = README.index("```python\nimport quantparams\n\ninspection = ")
    code = README[start + len("```python\n") :].split("```\n", 1)[0]
    (tmp_path / "examples").symlink_to(EXAMPLES)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 - the README's own snippet
    # What its comments say.
    assert namespace["inspection"].ok is False
    assert str(namespace["inspection"].problems[-1]) == (
        "model.safetensors.index.json: SGLang 0.5.23 runs layer 5 with k and v at 1.0: no such scale in the checkpoint"
    )
    vllm, sglang = namespace["vllm"], namespace["sglang"]
    assert (vllm.starts, vllm.failure.error) == (False, "ValueError")
    assert repr(sglang.layers[5].k) == "ScaleView(value=1.0, source='default', tensor=None, per_head=None)"
    k = namespace["k"]
    assert (k.tensor, k.values, k.vllm_name) == (
        "model.layers.0.self_attn.k_scale",
        (0.015625,),
        "model.layers.0.self_attn.attn.k_scale",
    )
    assert namespace["extraction"].notes == ("8 q/prob scales not written: the file has no place for them",)
    assert (tmp_path / "scales.json").is_file()
