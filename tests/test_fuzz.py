"""Fuzzing, CI-sized: for any input, `loads` and `validate` give a result or a `QuantParamError`.

A few thousand inputs from the mutation engine of tests/fuzz/fuzz_loads.py
(run it for 100,000), hypothesis-drawn mutations of sound documents checked
the same way, and the inputs that still break a promise, pinned one by one.
"""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import quantparams
from contexts import contexts
from fuzz import fuzz_loads
from fuzz.fuzz_loads import (
    FP8,
    HOSTILE_NUMBERS,
    OUTCOMES,
    Broken,
    Case,
    Mutator,
    Raw,
    check_with_budget,
    encode,
    format_report,
    run,
    write_json,
)
from quantparams import QuantParamError
from strategies import SoundDocument, fresh_choice, json_values, sound_documents

# Input classes the engine leaves out; the pinned inputs at the end of this
# file were once here. Name a class while a strict xfail test pins its failure.
STILL_FAILING: frozenset[str] = frozenset()

# Here the fuzzer's time limit tells a hang (a loop that never ends, work that
# grows with a claimed size of 2**63) from a slow input; the standalone run's
# tighter limit flags slow inputs on a machine of its own. On a shared CI
# machine a slow input is not a failure: speed is measured in benchmarks/.
HANG_BUDGET = 30.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mutation_engine(seed: int) -> None:
    report = run(1000, seed, skip=STILL_FAILING, time_budget=HANG_BUDGET)
    details = "\n\n".join(f"{f.signature}\n{f.case}\n{f.detail}" for f in report.failures[:3])
    assert not report.failure_counts, f"{format_report(report, seed)}\n\n{details}"
    # The engine reaches every outcome, checked documents included.
    assert all(report.outcomes[name] > 0 for name in OUTCOMES), report.outcomes
    assert report.revalidations["ok"] > 0


def test_the_fuzzer_runs_as_a_script(tmp_path: Path) -> None:
    # As tests/fuzz/README.md runs it, from a folder of its own.
    command = [sys.executable, fuzz_loads.__file__, "--count", "30", "--seed", "1", "--out", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("fuzz_loads: 30 inputs, seed 1\n30 inputs, seed 1, ")
    assert result.stdout.endswith("\nfailures: 0\n")
    assert list(tmp_path.iterdir()) == []


# --- Hypothesis: structure mutations of sound documents, then bytes ----------------------

_HOSTILE_VALUES = st.one_of(
    json_values(),
    fresh_choice([None, True, 0, -1, 0.0, -0.0, 5e-324, 2**64, "0.5", "", [], {}, [0.5], {"0": 0.5}]),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.sampled_from(HOSTILE_NUMBERS).map(Raw),
    st.sampled_from([2, 1024, 1025]).map(lambda depth: Raw("[" * depth + "]" * depth)),
    st.integers(0, 100_000).map(lambda length: "x" * length),
)
_KEYS = st.one_of(
    st.integers(0, 70).map(str),
    st.sampled_from(["01", "-1", "+1", " 1", "1.0", "\u0663", "\ud800", "", "model_type", "dtype"]),
    st.text(max_size=5),
)


def _slots(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _slots(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _slots(value, (*path, index))
    return found


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


@st.composite
def mutated_documents(draw: st.DrawFn) -> tuple[SoundDocument, bytes]:
    sound = draw(sound_documents(tp_sizes=st.integers(1, 4), layer_counts=st.integers(1, 40)))
    holder = [copy.deepcopy(sound.document)]
    for _ in range(draw(st.integers(0, 3), label="structure mutations")):
        path = draw(st.sampled_from(_slots(holder[0])), label="where")
        parent_path, key = ((), 0) if not path else (path[:-1], path[-1])
        parent = holder if not path else _get(holder[0], parent_path)
        action = draw(st.sampled_from(["replace", "delete", "add", "rename", "wrap"]), label="action")
        if action == "replace" or not isinstance(parent, dict):
            parent[key] = draw(_HOSTILE_VALUES)
        elif action == "delete":
            del parent[key]
        elif action == "add":
            parent[draw(_KEYS)] = draw(_HOSTILE_VALUES)
        elif action == "rename":
            parent[draw(_KEYS)] = parent.pop(key)
        else:
            parent[key] = [parent[key]]
    data = encode(write_json(holder[0], ascii_only=draw(st.booleans())))
    rounds = draw(st.integers(0, 2), label="byte mutations")
    if rounds:
        mutator = Mutator(draw(st.randoms(use_true_random=False)), [data], skip=STILL_FAILING)
        data, _ = mutator.mutate_bytes(data, rounds)
    return sound, data


@settings(max_examples=300)
@given(st.data())
def test_drawn_values_are_never_shared(data: st.DataObject) -> None:
    # mutated_documents edits inside the values it draws: a list or dict handed
    # out twice would carry one draw's edits into the next, and the same
    # choices would then draw another document (FlakyStrategyDefinition).
    first, second = data.draw(_HOSTILE_VALUES), data.draw(_HOSTILE_VALUES)
    if isinstance(first, (list, dict)) and isinstance(second, (list, dict)):
        assert first is not second
    # A context's fields too.
    one, other = data.draw(contexts()), data.draw(contexts())
    if isinstance(one, Mapping) and isinstance(other, Mapping):
        mutable = [{id(v) for v in c.values() if isinstance(v, (list, dict))} for c in (one, other)]
        assert mutable[0].isdisjoint(mutable[1])


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_sound_documents(data: st.DataObject) -> None:
    sound, document = data.draw(mutated_documents(), label="document")
    case = Case(
        data.draw(
            st.sampled_from([document, bytearray(document), document.decode("utf-8", "surrogateescape")])
        ),
        data.draw(contexts(sound.context), label="context"),
        data.draw(contexts(sound.context), label="other context"),
        compare_deferred=data.draw(st.booleans()),
        check_pickle=data.draw(st.booleans()),
    )
    check_with_budget(case, STILL_FAILING, budget=HANG_BUDGET)


# --- The standalone script ----------------------------------------------------------------


def test_script_reports_counts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["--count", "300", "--seed", "5", "--out", str(tmp_path)]
    argv += [f"--skip={name}" for name in sorted(STILL_FAILING)]
    assert fuzz_loads.main(argv) == 0
    out = capsys.readouterr().out
    assert "300 inputs, seed 5" in out
    for name in OUTCOMES:
        assert f"  {name} " in out
    assert "failures: 0" in out
    assert list(tmp_path.iterdir()) == []


def test_script_fails_and_keeps_the_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = fuzz_loads.check_case

    def broken_on_case_7(case: Case, skip: frozenset[str] = frozenset()) -> fuzz_loads.Result:
        if case.index == 7:
            raise RuntimeError("boom")
        return real(case, skip)

    monkeypatch.setattr(fuzz_loads, "check_case", broken_on_case_7)
    assert fuzz_loads.main(["--count", "20", "--seed", "5", "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "exception: RuntimeError" in captured.out
    assert "FAILURE 1: exception: RuntimeError" in captured.err
    assert "--seed 5 --only 7" in (tmp_path / "failure-1.txt").read_text()
    assert (tmp_path / "failure-1.bin").exists()


def test_hang_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def spin(*args: object, **kwargs: object) -> None:
        while True:
            pass

    monkeypatch.setattr(quantparams, "loads", spin)
    with pytest.raises(Broken, match="hang"):
        check_with_budget(Case(_document(), None, None), budget=0.2)


# --- Inputs that still break a promise ----------------------------------------------------


def _document(dtype: str = FP8, model_type: str | None = "llama", key: str = "0") -> bytes:
    scales = {"0": {key: 0.5}}
    return encode(
        write_json({"model_type": model_type, "kv_cache": {"dtype": dtype, "scaling_factor": scales}})
    )


_HUGE_INT = 10**5000
_ENGINE = {"tp_size": 1, "tp_rank": 0, "num_hidden_layers": 1, "model_type": "llama"}


def _problems(document: bytes, context: Mapping[str, object] | None) -> list[str]:
    with pytest.raises(QuantParamError) as caught:
        quantparams.loads(document, context)
    return [str(p) for p in caught.value.problems]


def test_key_of_5000_digits() -> None:
    check_with_budget(Case(_document(key="1" + "0" * 5000), None, None), budget=HANG_BUDGET)
    assert _problems(_document(key="1" + "0" * 5000), None) == [
        '$.kv_cache.scaling_factor["0"]["100000000000000000000000000000000000...]: expected a key '
        'like "0" or "17" (a non-negative integer without sign, spaces or leading zeros) of a '
        "plausible size, got one of 5001 digits"
    ]


@pytest.mark.parametrize("field", ["tp_size", "tp_rank", "num_hidden_layers"])
def test_context_int_of_5000_digits(field: str) -> None:
    context = {**_ENGINE, field: _HUGE_INT}
    check_with_budget(Case(_document(), context, None), budget=HANG_BUDGET)
    problems = _problems(_document(), context)
    assert problems
    assert all(len(line) < 300 for line in problems), problems


def test_huge_context_size_is_one_problem_per_run() -> None:
    for field, expected in [
        (
            "tp_size",
            "$.kv_cache.scaling_factor: KV cache scales maps for TP ranks 1-9223372036854775807 not "
            "found (9223372036854775807 ranks).",
        ),
        (
            "num_hidden_layers",
            '$.kv_cache.scaling_factor["0"]: Could not find KV cache scales for layers '
            "1-9223372036854775807 in TP rank 0 (9223372036854775807 layers).",
        ),
    ]:
        context = {**_ENGINE, field: 2**63}
        check_with_budget(Case(_document(), context, None), budget=HANG_BUDGET)
        assert expected in _problems(_document(), context)


@pytest.mark.parametrize("field", ["dtype", "model_type"])
def test_long_text_is_quoted_short(field: str) -> None:
    document = _document(**{field: "x" * 10_000})
    check_with_budget(Case(document, {**_ENGINE, "model_type": "y"}, None), budget=HANG_BUDGET)
    problems = _problems(document, {**_ENGINE, "model_type": "y"})
    assert any("xxxxxxxx..." in line for line in problems), problems
    assert all(len(line) < 300 for line in problems), problems
