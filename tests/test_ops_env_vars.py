"""jambonz's application environment variables: the app declares them, OPTIONS answers the
declarations in jambonz's shape, the fake sends their defaults (asking by OPTIONS as jambonz
does) unless a test gives values, and call.env types them."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
import trio
import trio.testing

import jbtrio
from jbtrio import Call, EnvVar, EnvVarError, EnvVarMissing
from jbtrio._runtime import Server, ServerConfig
from jbtrio.testing import run_app
from jbtrio.testing._cli_call import add_arguments, run_async
from jbtrio.testing._env_discovery import discover_env_vars


def make_app(seen: list[Any]) -> jbtrio.App:
    app = jbtrio.App(
        env_vars={
            "GREETING": EnvVar(description="what callers hear first", default="Hello"),
            "API_KEY": {"type": "string", "description": "CRM key", "obscure": True},
        }
    )

    @app.route(
        "/ivr",
        env_vars={
            "RETRIES": EnvVar(type="number", description="tries", default=3),
            "LANGUAGE": EnvVar(description="voice", enum=["en-US", "de-DE"], default="en-US"),
            "RECORD": EnvVar(type="boolean", description="record calls", required=True),
        },
    )
    async def ivr(call: Call) -> None:
        seen.append(dict(call.env))
        try:
            seen.append(call.env["RECORD"])
        except EnvVarMissing as exc:
            seen.append(exc)
        await call.start.reply([{"verb": "hangup"}])

    return app


def test_declarations_in_jambonz_shape() -> None:
    app = make_app([])
    schema = app.env_schema("/ivr/adulting")
    assert schema is not None
    assert schema["API_KEY"] == {"type": "string", "description": "CRM key", "obscure": True}
    assert schema["RETRIES"] == {"type": "number", "description": "tries", "default": 3}
    assert schema["RECORD"]["required"] is True
    assert schema["LANGUAGE"]["enum"] == ["en-US", "de-DE"]
    assert set(app.env_schema("/") or {}) == set()  # nothing mounted at /: None
    with pytest.raises(ValueError, match="is not a number"):
        EnvVar(type="number", default="three")
    with pytest.raises(ValueError, match="unknown fields"):
        jbtrio.App(env_vars={"X": {"type": "string", "descripton": "typo"}})
    assert EnvVar(ui_hint="textarea").to_json()["uiHint"] == "textarea"


async def test_options_answers_the_declarations(autojump_clock: trio.testing.MockClock) -> None:
    app = make_app([])
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app, ServerConfig(ping_interval=None)).run_in)
        schema = await discover_env_vars("ws://x/ivr", connector=server.open_memory_stream)
        assert schema == app.env_schema("/ivr")
        assert orjson.loads(orjson.dumps(schema))["GREETING"]["default"] == "Hello"
        await server.shutdown(grace=0)


async def test_the_fake_sends_the_defaults_and_call_env_types_them(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Any] = []
    call = await run_app(make_app(seen), "/ivr")
    sent = call._session_data["env_vars"]  # what session:new carried
    assert sent == {"GREETING": "Hello", "RETRIES": 3, "LANGUAGE": "en-US"}
    env, record = seen
    assert env == {"GREETING": "Hello", "RETRIES": 3, "LANGUAGE": "en-US"}
    assert isinstance(record, EnvVarMissing)
    missing = [r for r in caplog.records if "RECORD is required" in r.getMessage()]
    assert missing
    assert missing[0].levelno == logging.ERROR
    assert missing[0].call_sid == call.call_sid  # type: ignore[attr-defined]


async def test_a_test_gives_values_as_jambonz_sends_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen: list[Any] = []
    env = {"RETRIES": "5", "RECORD": "true", "API_KEY": "k", "EXTRA": "kept"}
    await run_app(make_app(seen), "/ivr", env_vars=env)
    assert seen[0] == {
        "RETRIES": 5,
        "RECORD": True,
        "API_KEY": "k",
        "EXTRA": "kept",
        "GREETING": "Hello",
        "LANGUAGE": "en-US",
    }
    assert seen[1] is True


def test_refused_values_raise_a_typed_error() -> None:
    env = jbtrio.CallEnv(
        {"N": EnvVar(type="number"), "L": EnvVar(enum=["a"])}, {"N": "x", "L": "b"}
    )
    with pytest.raises(EnvVarError, match="N: 'x' is not a number"):
        env["N"]
    with pytest.raises(EnvVarError, match="not one of"):
        env["L"]
    assert len(env.problems()) == 2
    assert "***" in repr(jbtrio.CallEnv({"K": EnvVar(obscure=True)}, {"K": "secret"}))


async def test_jbtrio_call_env(autojump_clock: trio.testing.MockClock) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    seen: list[Any] = []
    app = make_app(seen)
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app, ServerConfig(ping_interval=None)).run_in)
        args = parser.parse_args(["ws://x/ivr", "--env", "RECORD=yes", "--env", "RETRIES=7"])
        assert await run_async(args, connector=server.open_memory_stream) == 0
        await server.shutdown(grace=0)
    assert seen[0]["RETRIES"] == 7
    assert seen[0]["GREETING"] == "Hello"  # the declared default, asked with OPTIONS
    assert seen[1] is True
