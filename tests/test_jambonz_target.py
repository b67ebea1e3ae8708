"""Which jambonz an app is written for: ``App(jambonz=...)``, ``jbtrio serve --jambonz``, and
the fake jambonz playing one release or another (``JambonzConfig(jambonz=...)``)."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest
import trio.testing

import jbtrio
from jbtrio import VerbError
from jbtrio._cli_serve import _target_jambonz, add_arguments, load_app
from jbtrio.testing import JambonzConfig, run_app
from jbtrio.verbs import Agent, AgentLlm, Hangup, Say

AGENT = Agent(llm=AgentLlm(vendor="openai", model="gpt-4.1"))


def _app(jambonz: jbtrio.verbs.JambonzVersion | None) -> tuple[jbtrio.App, list[str]]:
    app = jbtrio.App(jambonz=jambonz)
    refused: list[str] = []

    @app.flow("/")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        try:
            yield [Say(text="Hi"), AGENT, Hangup()]
        except VerbError as exc:
            refused.append(str(exc))
            yield [Say(text="This jambonz has no agent."), Hangup()]

    return app, refused


async def test_an_app_for_0_9_refuses_the_agent_verb_in_the_app(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app, refused = _app("0.9")
    call = await run_app(app)
    assert len(refused) == 1
    assert refused[0].endswith(  # "verb #2": jbtrio's receipts put a config verb first
        "unknown verb 'agent': jambonz 0.9 does not have it, 10.x/11.x do "
        "(the target is jambonz='0.9')"
    )
    assert call.executed_verbs[0] == {"verb": "say", "text": "This jambonz has no agent."}
    assert call.config.jambonz == "0.9"  # run_app plays the jambonz the app declares


async def test_a_0_9_fake_refuses_an_agent_as_0_9_8_does(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app, refused = _app("11")
    call = await run_app(app, config=JambonzConfig(jambonz="0.9"), check=False)
    assert refused == []  # the app thinks it talks to jambonz 11
    assert call.outcome.status == "failed"
    assert "unknown verb 'agent': jambonz 0.9 does not have it" in call.outcome.reason


def test_the_targets_are_checked() -> None:
    with pytest.raises(ValueError, match=re.escape("jambonz must be one of '0.9', '10', '11'")):
        jbtrio.App(jambonz="12")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="jambonz"):
        JambonzConfig(jambonz="9")  # type: ignore[arg-type]
    assert jbtrio.App().jambonz is None  # the server's CoreConfig.jambonz, "11" by default
    assert JambonzConfig().jambonz == "11"


def _serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["examples.hello:app", *argv])


def test_serve_jambonz_sets_the_apps_target_and_the_workers_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    monkeypatch.delenv("JBTRIO_JAMBONZ", raising=False)
    args = _serve_args("--jambonz", "0.9")
    app = load_app(args.app)
    assert isinstance(app, jbtrio.App)
    monkeypatch.setattr(app, "jambonz", None)
    _target_jambonz(app, args.jambonz)
    assert app.jambonz == "0.9"
    assert os.environ["JBTRIO_JAMBONZ"] == "0.9"  # what --workers processes read
    monkeypatch.setattr(app, "jambonz", None)


def test_serve_jambonz_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JBTRIO_JAMBONZ", "10")
    assert _serve_args().jambonz == "10"
    monkeypatch.delenv("JBTRIO_JAMBONZ")
    assert _serve_args().jambonz is None


def test_serve_jambonz_refuses_an_unknown_release() -> None:
    with pytest.raises(
        SystemExit, match=re.escape("--jambonz must be one of 0.9, 10, 11, got '12'")
    ):
        _target_jambonz(jbtrio.App(), "12")
