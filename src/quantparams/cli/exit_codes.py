"""The exit status of every command, as `--help` states it."""

from __future__ import annotations

__all__ = ["EXIT_INVALID", "EXIT_OK", "EXIT_USAGE"]

EXIT_OK = 0
# Invalid input, or for `diff` files that differ.
EXIT_INVALID = 1
# A usage error, or a file that cannot be read (or, for `extract`, written).
EXIT_USAGE = 2
