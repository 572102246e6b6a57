"""Properties of the installed package as a process sees it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

INVALID = Path(__file__).parent / "data" / "invalid"

HEAVY = ["pydantic", "numpy", "torch", "safetensors", "msgspec", "jsonschema", "hypothesis"]


def _python(*args: str, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args, "-c", code], capture_output=True, text=True, check=False)


def test_checks_hold_under_python_O() -> None:
    code = f"""
import sys, quantparams
assert sys.flags.optimize == 1 or True
try:
    quantparams.load({str(INVALID / "layer-missing.json")!r}, {{"tp_size": 2, "tp_rank": 0, "num_hidden_layers": 3}})
except quantparams.ValidationError as error:
    print(sys.flags.optimize, len(error.problems))
"""
    result = _python("-O", code=code)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1 2\n"


def test_import_pulls_in_nothing_heavy() -> None:
    code = f"""
import sys, json, quantparams
quantparams.loads(b'{{"model_type": null, "kv_cache": {{"dtype": "float8_e4m3fn", "scaling_factor": {{}}}}}}')
print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
"""
    result = _python(code=code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_no_assert_statement_in_the_library() -> None:
    source = Path(__file__).parent.parent / "src" / "quantparams"
    offenders = [
        f"{path.name}:{number}"
        for path in source.glob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.strip().startswith("assert ")
    ]
    assert offenders == []
