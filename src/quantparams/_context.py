"""What the running engine knows, for the checks that need it."""

from __future__ import annotations

import attrs

__all__ = ["ValidationContext"]


@attrs.frozen
class ValidationContext:
    """The engine's TP size, this process's TP rank, the model's layer count and type.

    Its values are checked by `validate`, so that a bad context is reported
    with every other problem instead of failing on construction.
    """

    tp_size: int
    tp_rank: int
    num_hidden_layers: int
    model_type: str | None = None
