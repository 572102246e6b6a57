"""Properties of the installed package as a process sees it."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

from documents import INVALID, ROOT

HEAVY = ["pydantic", "numpy", "torch", "safetensors", "msgspec", "jsonschema", "hypothesis"]
# What loading never needs: the converter's library, and what only writing,
# logging or the command line use.
NOT_FOR_LOADING = ["cattrs", "pathlib", "logging", "argparse", "numbers"]


# Set when coverage follows subprocesses: it then starts in the child first,
# importing modules of its own.
_COVERAGE_VARIABLES = ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START")


def _python(*args: str, code: str, measured: bool = True) -> subprocess.CompletedProcess[str]:
    env = None if measured else {k: v for k, v in os.environ.items() if k not in _COVERAGE_VARIABLES}
    return subprocess.run(
        [sys.executable, *args, "-c", code], capture_output=True, text=True, check=False, env=env
    )


def test_checks_hold_under_python_O() -> None:
    code = f"""
import sys, quantparams
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
print(json.dumps([m for m in {HEAVY + NOT_FOR_LOADING!r} if m in sys.modules]))
"""
    # What a user's interpreter imports, so with no coverage started in it.
    result = _python(code=code, measured=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


# Every package of the library, so that a folder the search below stops
# reaching (or a package moved away) shows up as a failure, not as fewer files.
PACKAGES = [
    "quantparams",
    "quantparams.checkpoint",
    "quantparams.checkpoint.engines",
    "quantparams.checkpoint.hub",
    "quantparams.cli",
]


def test_no_assert_statement_in_the_library() -> None:
    # `python -O` strips asserts, so a check written as one would vanish.
    # Parsing finds them all: `assert(x)`, one after a `;`, none in a string.
    source = ROOT / "src"
    files = sorted((source / "quantparams").rglob("*.py"))
    found = {".".join(path.parent.relative_to(source).parts) for path in files}
    assert found == set(PACKAGES)
    for package in PACKAGES:
        folder = source.joinpath(*package.split("."))
        assert (folder / "__init__.py") in files, package
        assert len([path for path in files if path.parent == folder]) > 1, package
    offenders = [
        f"{path.relative_to(source)}:{node.lineno}"
        for path in files
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Assert)
    ]
    assert offenders == []


def test_the_converter_is_built_on_first_use() -> None:
    code = """
import sys, quantparams
print("cattrs" in sys.modules, "converter" in quantparams.__all__)
from quantparams import converter
print("cattrs" in sys.modules, converter is quantparams.converter)
schema = converter.structure(
    {"model_type": None, "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": {"0": 0.5}}}},
    quantparams.QuantParamSchema,
)
print(converter.unstructure(schema))
"""
    result = _python(code=code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "False True",
        "True True",
        "{'model_type': None, 'kv_cache': {'dtype': 'float8_e4m3fn', 'scaling_factor': {'0': {'0': 0.5}}}}",
    ]


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    result = _python(
        code="import quantparams\ntry:\n    quantparams.nothing\nexcept AttributeError as e:\n    print(e)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "module 'quantparams' has no attribute 'nothing'\n"


def test_the_command_line_leaves_the_reports_until_a_command_runs_them() -> None:
    reports = ["statistics", "quantparams._inspect", "quantparams._diff"]
    code = f"""
import json, sys, quantparams.cli
print(json.dumps([m for m in {reports!r} if m in sys.modules]))
"""
    result = _python(code=code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
