"""Settings for the whole test suite."""

import pytest
from hypothesis import settings

import quantparams._load

# The shared checks are asserted from helper modules: rewritten, their failures show the values.
pytest.register_assert_rewrite("agreement")

# The tests check behaviour, never speed: hypothesis's deadline on each example
# would be a timing check, and the machines that run the suite are shared.
settings.register_profile("quantparams", deadline=None)
settings.load_profile("quantparams")


def _declines(*args: object, **kwargs: object) -> None:
    return None


@pytest.fixture(params=["fast", "precise"])
def loading_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once on each way `loads` reads a document, as CPython runs its
    json tests on the C scanner and on the Python one.

    "fast": as `loads` runs, the fast path first and the precise loader for
    what it declines. "precise": the fast path declines everything, so the
    precise loader reads every document. tests/test_io.py checks that each
    run takes the path it names.
    """
    if request.param == "precise":
        monkeypatch.setattr(quantparams._load, "load_fast", _declines)
    return str(request.param)
