"""The reports behind `inspect`, `diff` and `schema`, as public functions of the library."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys

import attrs
import pytest

import quantparams
from documents import EXAMPLE, RERUN
from quantparams import (
    Difference,
    Inspection,
    Outlier,
    RankStats,
    ScaleDifference,
    diff_schemas,
    inspect_schema,
    json_schema,
)

REPORT_NAMES = [
    "Difference",
    "Inspection",
    "Outlier",
    "RankStats",
    "ScaleDifference",
    "diff_schemas",
    "inspect_schema",
    "json_schema",
    "number_runs",
]
REPORT_MODULES = [
    "quantparams._diff",
    "quantparams._inspect",
    "quantparams._jsonschema",
    "quantparams._runs",
    "statistics",
]


def test_import_quantparams_leaves_the_reports_unimported() -> None:
    code = f"import sys, quantparams; print([m for m in {REPORT_MODULES!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "[]\n"


def test_reports_are_public_names() -> None:
    for name in REPORT_NAMES:
        assert name in quantparams.__all__
        assert name in dir(quantparams)
    star: dict[str, object] = {}
    exec("from quantparams import *", star)  # noqa: S102
    assert {name: star[name] for name in REPORT_NAMES} == {
        name: getattr(quantparams, name) for name in REPORT_NAMES
    }


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'quantparams' has no attribute 'inspect_file'"):
        _ = quantparams.inspect_file


def test_inspect_schema() -> None:
    example = quantparams.load(EXAMPLE)
    inspection = inspect_schema(example)
    assert isinstance(inspection, Inspection)
    assert (inspection.model_type, inspection.dtype, inspection.outlier_factor) == (
        "llama",
        "float8_e4m3fn",
        4.0,
    )
    assert [stats.rank for stats in inspection.ranks] == [0, 1]
    assert inspection.ranks[0] == RankStats(
        rank=0,
        layer_count=32,
        min=0.009189,
        # The mean of the middle two of 32 scales.
        median=statistics.median(example.kv_cache.scaling_factor[0].values()),
        max=0.052584,
        outlier_count=0,
        missing_layers=(),
        extra_layers=(),
    )
    assert inspection.outliers == (
        Outlier(1, 1, 0.009121, statistics.median(example.kv_cache.scaling_factor[1].values())),
    )
    assert (inspection.rank_gaps, inspection.layer_gaps, inspection.layer_sets_differ) == ((), (), False)
    assert inspection.reference_layers == tuple(range(32))


def test_reports_to_json_are_plain_json_data() -> None:
    example, rerun = quantparams.load(EXAMPLE), quantparams.load(RERUN, validate=False)
    document = inspect_schema(example).to_json()
    median = statistics.median(example.kv_cache.scaling_factor[1].values())
    assert document["outliers"] == [
        {"rank": 1, "layer": 1, "scale": 0.009121, "median": median, "ratio": 0.009121 / median}
    ]
    assert (document["rank_count"], document["rank_gaps"], document["reference_layers"]) == (
        2,
        [],
        list(range(32)),
    )
    assert json.loads(json.dumps(document)) == document
    difference = diff_schemas(example, rerun).to_json()
    assert difference["largest"] == {
        "rank": 0,
        "layer": 3,
        "a": 0.019745,
        "b": -0.019745,
        "relative_difference": 2.0,
    }
    assert (difference["model_type"], difference["layers_only_in_a"], difference["scales_compared"]) == (
        None,
        [],
        64,
    )
    assert json.loads(json.dumps(difference)) == difference


@pytest.mark.parametrize(
    ("numbers", "runs"),
    [
        ([], ()),
        ([7], ((7, 7),)),
        ([0, 1, 2, 5], ((0, 2), (5, 5))),
        ([5, 2, 1, 0, 1], ((0, 2), (5, 5))),
        ([10**20, 10**20 + 1], ((10**20, 10**20 + 1),)),
    ],
)
def test_number_runs(numbers: list[int], runs: tuple[tuple[int, int], ...]) -> None:
    assert quantparams.number_runs(numbers) == runs


def test_reports_are_frozen() -> None:
    inspection = inspect_schema(quantparams.load(EXAMPLE))
    difference = diff_schemas(quantparams.load(EXAMPLE), quantparams.load(RERUN, validate=False))
    for report in (inspection, inspection.ranks[0], inspection.outliers[0], difference, difference.scales[0]):
        assert attrs.has(type(report))
        field = attrs.fields(type(report))[0].name
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(report, field, None)


def test_diff_schemas() -> None:
    example = quantparams.load(EXAMPLE)
    # The rerun has a negative scale: loaded unchecked, it is compared all the same.
    rerun = quantparams.load(RERUN, validate=False)
    difference = diff_schemas(example, rerun)
    assert isinstance(difference, Difference)
    assert not difference.same
    assert [(d.rank, d.layer, d.a, d.b) for d in difference.scales] == [
        (0, 3, 0.019745, -0.019745),
        (1, 20, 0.040581, 0.171),
        (0, 7, 0.0427, 0.0431),
        (1, 12, 0.045708, 0.045702),
    ]
    assert difference.largest == ScaleDifference(0, 3, 0.019745, -0.019745, 2.0)
    assert difference.scales_compared == 64
    assert (difference.model_type, difference.dtype, difference.ranks_only_in_a) == (None, None, ())
    # A tolerance wide enough takes all but the sign change as the same.
    assert [(d.rank, d.layer) for d in diff_schemas(example, rerun, rtol=0.8).scales] == [(0, 3)]
    assert diff_schemas(example, example, rtol=0).same


@pytest.mark.parametrize("rtol", [-1e-9, math.nan, math.inf, True, "0.1"])
def test_diff_schemas_refuses_a_bad_tolerance(rtol: object) -> None:
    example = quantparams.load(EXAMPLE)
    with pytest.raises(ValueError, match="rtol must be a finite number >= 0, got "):
        diff_schemas(example, example, rtol=rtol)  # type: ignore[arg-type]


def test_reports_refuse_what_is_not_a_document() -> None:
    example = quantparams.load(EXAMPLE)
    raw = {"model_type": "llama", "kv_cache": {}}
    with pytest.raises(TypeError, match="inspect_schema expects a QuantParamSchema, got dict"):
        inspect_schema(raw)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="diff_schemas expects b to be a QuantParamSchema, got dict"):
        diff_schemas(example, raw)  # type: ignore[arg-type]


def test_json_schema_is_a_fresh_dict_every_time() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    schema["properties"]["kv_cache"]["properties"]["dtype"] = {"const": "float16"}
    assert json_schema()["properties"]["kv_cache"]["properties"]["dtype"] == {"const": "float8_e4m3fn"}
