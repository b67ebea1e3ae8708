"""pytest plugin of the jbtrio testing kit (fixtures for testing jambonz apps).

Registered through the ``pytest11`` entry point, so installing jbtrio makes the fixtures
available to any test suite. They are function-scoped, as pytest-trio requires for anything
touching Trio: each test gets its own fake, and nothing leaks between tests.

Typical use, with pytest-trio and an app under test listening somewhere::

    async def test_greeting(fake_jambonz):
        call = await fake_jambonz.place_call("ws://127.0.0.1:3000/", caller=Caller(speech=["hi"]))
        assert call.outcome.ok
        assert call.acked_verbs[0]["verb"] == "say"

Override ``jambonz_config`` in a conftest to change the simulated server for a whole suite.
"""

from __future__ import annotations

import pytest

from ._config import JambonzConfig
from ._fake import FakeJambonz


@pytest.fixture
def jambonz_config() -> JambonzConfig:
    """The simulated feature server's settings (real jambonz defaults); override to change."""
    return JambonzConfig()


@pytest.fixture
def fake_jambonz(jambonz_config: JambonzConfig) -> FakeJambonz:
    """A :class:`~jbtrio.testing.FakeJambonz` configured with ``jambonz_config``."""
    return FakeJambonz(config=jambonz_config)
