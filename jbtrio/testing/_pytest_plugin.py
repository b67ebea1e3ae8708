"""pytest plugin of the jbtrio testing kit (fixtures for testing jambonz apps).

Registered through the ``pytest11`` entry point, so installing jbtrio makes the fixtures
available to any test suite. The tests that use them are Trio tests: ``pip install
"jbtrio[testing]"`` brings pytest-trio, and each test is marked ``@pytest.mark.trio`` (or the
suite sets ``trio_mode = true`` in its pytest configuration). The fixtures are
function-scoped, as pytest-trio requires for anything touching Trio: each test gets its own
fake, and nothing leaks between tests.

Typical use::

    @pytest.mark.trio
    async def test_greeting(fake_jambonz, autojump_clock):
        call = await fake_jambonz.run_app(app, "/ivr", caller=Caller(speech=["hi"]))
        assert call.executed_verbs[0]["verb"] == "say"

Override ``jambonz_config`` in a conftest to change the simulated server for a whole suite.
"""

from __future__ import annotations

import inspect

import pytest

from ._config import JambonzConfig
from ._fake_jambonz import FakeJambonz


@pytest.fixture
def jambonz_config() -> JambonzConfig:
    """The simulated feature server's settings (real jambonz defaults); override to change."""
    return JambonzConfig()


@pytest.fixture
def fake_jambonz(request: pytest.FixtureRequest, jambonz_config: JambonzConfig) -> FakeJambonz:
    """A :class:`~jbtrio.testing.FakeJambonz` configured with ``jambonz_config``."""
    test = getattr(request, "function", None)
    if inspect.iscoroutinefunction(test) and request.node.get_closest_marker("trio") is None:
        pytest.fail(
            f"{request.node.name} is an async test but not a Trio test: "
            'install pytest-trio (pip install "jbtrio[testing]") and mark the test '
            "@pytest.mark.trio, or set trio_mode = true in your pytest configuration",
            pytrace=False,
        )
    return FakeJambonz(config=jambonz_config)
