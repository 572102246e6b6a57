"""Lists of names and layers in messages, cut short."""

from __future__ import annotations

from .._runs import number_runs

__all__ = ["layers_text", "quote_list"]

# Longest list of layer runs or names quoted in one message.
_SHOWN = 8


def quote_list(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def layers_text(layers: list[int]) -> str:
    """`layer 3`, or `layers 2-4, 7` for runs of consecutive layers, as the tables print them."""
    if len(layers) == 1:
        return f"layer {layers[0]}"
    texts = [str(first) if first == last else f"{first}-{last}" for first, last in number_runs(layers)]
    return "layers " + quote_list(texts)
