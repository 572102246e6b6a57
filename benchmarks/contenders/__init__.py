"""The contenders: one small module each, all with the same interface.

Every module defines:

- `NAME`: the contender's name, as in the report;
- `VERSION`: the versions of the libraries it runs on;
- `CHECKS`: whether it checks the document at all (the two floors do not);
- `load(data, ctx)`: JSON bytes -> a checked object, checked against `ctx`;
- `revalidate(obj, ctx)`: check an already loaded object against another context;
- `dump(obj)`: the object -> JSON bytes that every contender reads back;
- `scales(obj)`: `{rank: {layer: scale}}`, to compare results across contenders;
- `COLD_START_CODE`: source a fresh interpreter runs, with the file path and the
  context in `sys.argv`, to import the contender and load the file once.

`ctx` is a dict shaped like the one vLLM passes to Pydantic: `tp_size`,
`tp_rank`, `num_hidden_layers`, `model_type`. Checks raise `ValueError`.

This package imports nothing itself, so that a cold start pays only for the
contender it measures.
"""

NAMES = (
    "quantparams",
    "pydantic_lax",
    "pydantic_strict",
    "msgspec_struct",
    "cattrs_naive",
    "orjson_floor",
    "json_stdlib",
)
"""Report order: the library, the schema it replaces, the alternatives, the floors."""
