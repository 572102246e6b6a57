"""The command line run as a person runs it: `python -m quantparams ...` in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping


def run_cli(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`quantparams *args` in a fresh interpreter, with `env` added to the environment; its exit
    status, stdout and stderr as text."""
    return subprocess.run(
        [sys.executable, "-m", "quantparams", *args],
        capture_output=True,
        text=True,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )
