"""The checkpoints shipped under examples/, and what README.md says of checkpoints."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from documents import EXAMPLES, ROOT, matching
from engine_cases import sglang_llama_reads
from quantparams.checkpoint import NAMINGS
from quantparams.checkpoint.name_table import Naming

README = (ROOT / "README.md").read_text()


def test_the_shipped_checkpoints_are_what_the_script_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_checkpoints", EXAMPLES / "make_checkpoints.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in ("llama-fp8", "llama-fp8-broken"):
        written = {path.name: path.read_bytes() for path in matching(tmp_path / name)}
        shipped = {path.name: path.read_bytes() for path in matching(EXAMPLES / name)}
        assert written == shipped


def test_the_readme_table_says_what_the_naming_table_says_row_by_row() -> None:
    table = README[README.index("| checkpoint name ends with |") :].split("\n\n", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    matched = set()
    for naming in NAMINGS:
        # A row is found by the first word of its producer: "AMD Quark" rows share one.
        first = naming.producer.replace(",", " ").split()[0]
        [row] = [row for row in rows if row[4].replace(",", " ").split()[0] == first]
        matched.add(row[4])
        under = "fp8 and Quark only" if naming.vllm_configs == frozenset({"fp8", "quark"}) else "any"
        assert row[2].startswith(under), (naming.producer, row)
        if _sglang_reads(naming):
            assert row[3] != "no", (naming.producer, row)
    assert matched == {row[4] for row in rows}
    for row in rows:
        namings = [
            n
            for n in NAMINGS
            if n.producer.replace(",", " ").split()[0] == row[4].replace(",", " ").split()[0]
        ]
        assert (row[3] == "no") == (not any(_sglang_reads(n) for n in namings)), row


def _sglang_reads(naming: Naming) -> bool:
    """Whether SGLang's Llama loader reads the naming's first example, in layer 0's attention
    (an example that names no module, such as `*.kv_scale`, is the attention's)."""
    first = naming.example.split(" / ")[0].split(" (")[0].removeprefix("*.")
    module = "" if first.startswith(("self_attn.", "mixer.")) else "self_attn."
    return sglang_llama_reads(f"model.layers.0.{module}{first}")


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
