"""The example documents the tests read, and the one way to list files for them.

A glob that matches nothing makes every test built on it pass without
checking anything, so `matching` refuses to return an empty list.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
# The file README.md loads: sound, llama, TP 2, 32 layers.
EXAMPLE = EXAMPLES / "llama-tp2-32layers.json"
# The same calibration run again, with one scale below zero (README.md's `diff`).
RERUN = EXAMPLES / "rerun" / "llama-tp2-32layers.json"

DATA = Path(__file__).parent / "data"
# Files the library must accept, and files it must refuse, each with a
# `.problems` file beside it; either may have a `.context.json` beside it.
VALID = DATA / "valid"
INVALID = DATA / "invalid"


def matching(folder: Path, pattern: str = "*") -> list[Path]:
    """The paths in `folder` that match `pattern`, in name order; at least one."""
    paths = sorted(folder.glob(pattern))
    if not paths:
        raise FileNotFoundError(f"nothing in {folder} matches {pattern!r}")
    return paths


def documents(folder: Path) -> list[Path]:
    """The JSON documents in `folder`, without the engine contexts beside them; at least one."""
    paths = [path for path in matching(folder, "*.json") if not path.name.endswith(".context.json")]
    if not paths:
        raise FileNotFoundError(f"only engine contexts in {folder}")
    return paths


# Each file of the two folders above, for the tests that take them one by one.
VALID_FILES = documents(VALID)
INVALID_FILES = documents(INVALID)
