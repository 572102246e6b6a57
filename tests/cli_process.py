"""The command line run as a person runs it: `python -m quantparams ...` in a process of its own."""

from __future__ import annotations

import subprocess
import sys


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`quantparams *args` in a fresh interpreter; its exit status, stdout and stderr as text."""
    return subprocess.run(
        [sys.executable, "-m", "quantparams", *args], capture_output=True, text=True, check=False
    )
