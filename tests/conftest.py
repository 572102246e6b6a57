"""Settings for the whole test suite."""

from hypothesis import settings

# The tests check behaviour, never speed: hypothesis's deadline on each example
# would be a timing check, and the machines that run the suite are shared.
settings.register_profile("quantparams", deadline=None)
settings.load_profile("quantparams")
