"""The pytest fixtures and the ``call`` CLI subcommand."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import pytest
import trio
import trio.testing
from _standalone_app import AppConn, StandaloneApp

import jbtrio
from jbtrio.testing import Caller, FakeJambonz, HangUp, JambonzConfig, Silence, Turn
from jbtrio.testing._cli_call import add_arguments, run_async
from jbtrio.verbs import Gather


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="jbtrio call")
    add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def jambonz_config() -> JambonzConfig:
    """Overrides the plugin's fixture: fast media so the real-time TCP tests stay quick."""
    return JambonzConfig(say_seconds_per_char=0.0001, say_min_seconds=0.001)


async def test_fixture_gives_a_configured_fake(
    fake_jambonz: FakeJambonz, jambonz_config: JambonzConfig
) -> None:
    assert fake_jambonz.config is jambonz_config
    app = StandaloneApp()
    async with trio.open_nursery() as nursery:
        port = await app.serve(nursery)
        call = await fake_jambonz.place_call(
            f"ws://127.0.0.1:{port}/", caller=Caller(speech=["hi"], response_delay=0.01)
        )
        nursery.cancel_scope.cancel()
    assert call.outcome is not None and call.outcome.ok


def test_cli_defaults() -> None:
    args = parse("ws://h:1/p")
    defaults = (args.idle_hangup, args.max_duration, args.json, args.turns, args.script)
    assert defaults == (None, 300.0, False, None, None)


async def test_cli_completed_call_exits_zero(
    capsys: pytest.CaptureFixture[str], autojump_clock: trio.testing.MockClock
) -> None:
    app = StandaloneApp(username="u", password="p")
    async with trio.open_nursery() as nursery:
        code = await run_async(
            parse("ws://app/", "--user", "u", "--password", "p", "--say", "help"),
            connector=app.memory_connector(nursery),
        )
        nursery.cancel_scope.cancel()
    out, err = capsys.readouterr()
    assert code == 0
    assert "jambonz → app  session:new" in out and 'ack              say "You said help"' in out
    assert '"type"' not in out  # readable by default, not JSON frames
    assert err.strip() == "call completed: app hung up"


async def test_cli_json_lines_and_drop(
    capsys: pytest.CaptureFixture[str], autojump_clock: trio.testing.MockClock
) -> None:
    app = StandaloneApp()
    async with trio.open_nursery() as nursery:
        code = await run_async(
            parse("ws://app/", "--say", "x", "--json", "--drop-after", "2"),
            connector=app.memory_connector(nursery),
        )
        nursery.cancel_scope.cancel()
    out, _ = capsys.readouterr()
    lines = [orjson.loads(line) for line in out.splitlines()]
    assert code == 0
    assert {line["direction"] for line in lines} == {"in", "out"}
    assert all(isinstance(line["time"], float) for line in lines)
    assert lines[0]["time"] == 0.0 and lines[-1]["time"] > 1.0
    assert "session:reconnect" in [line["frame"].get("type") for line in lines]


async def test_cli_401_exits_nonzero(
    capsys: pytest.CaptureFixture[str], autojump_clock: trio.testing.MockClock
) -> None:
    app = StandaloneApp(username="u", password="p")
    async with trio.open_nursery() as nursery:
        code = await run_async(parse("ws://app/"), connector=app.memory_connector(nursery))
        nursery.cancel_scope.cancel()
    assert code == 1
    assert capsys.readouterr().err.strip() == "call failed: HTTP 401"


async def test_cli_idle_app_then_caller_hangs_up(
    capsys: pytest.CaptureFixture[str], autojump_clock: trio.testing.MockClock
) -> None:
    app = StandaloneApp(initial_verbs=[{"verb": "say", "text": "hi"}])
    async with trio.open_nursery() as nursery:
        code = await run_async(
            parse("ws://app/", "--idle-hangup", "2"), connector=app.memory_connector(nursery)
        )
        nursery.cancel_scope.cancel()
    assert code == 0
    assert "caller hung up" in capsys.readouterr().err


async def test_cli_app_fault_exits_nonzero(
    capsys: pytest.CaptureFixture[str], autojump_clock: trio.testing.MockClock
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, object]) -> bool:
        if msg["type"] == "session:new":
            await conn.send_raw("oops")
            return False
        return False

    app = StandaloneApp(on_message=on_message)
    async with trio.open_nursery() as nursery:
        code = await run_async(
            parse("ws://app/", "--say", "x"), connector=app.memory_connector(nursery)
        )
        nursery.cancel_scope.cancel()
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        "call completed with app fault: jambonz:error: InvalidMessage: "
        "Unexpected token 'o', \"oops\" is not valid JSON"
    )


async def test_cli_max_duration(
    capsys: pytest.CaptureFixture[str], autojump_clock: trio.testing.MockClock
) -> None:
    app = StandaloneApp(initial_verbs=[{"verb": "pause", "length": 1000}])
    async with trio.open_nursery() as nursery:
        code = await run_async(
            parse("ws://app/", "--max-duration", "10"), connector=app.memory_connector(nursery)
        )
        nursery.cancel_scope.cancel()
    assert code == 1
    assert capsys.readouterr().err.strip() == "call failed: max duration reached"


async def test_cli_over_loopback_tcp(capsys: pytest.CaptureFixture[str]) -> None:
    app = StandaloneApp(initial_verbs=[{"verb": "hangup"}])
    async with trio.open_nursery() as nursery:
        port = await app.serve(nursery)
        code = await run_async(parse(f"ws://127.0.0.1:{port}/"))
        nursery.cancel_scope.cancel()
    assert code == 0
    assert capsys.readouterr().err.strip() == "call completed: app hung up"


def test_cli_turns_keep_their_order() -> None:
    args = parse("ws://h/", "--digits", "1", "--say", "hi", "--silence", "--say", "", "--hangup")
    assert args.turns == [Turn("digits", "1"), Turn("speech", "hi"), Silence(), Silence(), HangUp()]


async def serve_in_memory(app: jbtrio.App, nursery: trio.Nursery) -> jbtrio.Server:
    server: jbtrio.Server = await nursery.start(jbtrio.Server(app).run_in)
    return server


async def test_cli_a_crashing_flow_exits_nonzero(
    capsys: pytest.CaptureFixture[str], autojump_clock: trio.testing.MockClock
) -> None:
    app = jbtrio.App()

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        answer: jbtrio.GatherResult = yield Gather(input=["speech"])
        raise RuntimeError(f"cannot handle {answer.speech_text}")

    async with trio.open_nursery() as nursery:
        server = await serve_in_memory(app, nursery)
        code = await run_async(
            parse("ws://app/f", "--say", "help"), connector=server.open_memory_stream
        )
        nursery.cancel_scope.cancel()
    out, err = capsys.readouterr()
    assert code == 1
    assert 'say "Sorry, something went wrong. Goodbye."' in out
    assert err.startswith("call app failed: a flow crashed: its apology (error_verbs) was played")


async def test_cli_runs_a_script_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], autojump_clock: trio.testing.MockClock
) -> None:
    from examples.ivr import app

    script = tmp_path / "caller.toml"
    script.write_text('turns = ["silence", { digits = "2" }]\n')
    async with trio.open_nursery() as nursery:
        server = await serve_in_memory(app, nursery)
        code = await run_async(
            parse("ws://app/ivr", "--script", str(script)), connector=server.open_memory_stream
        )
        nursery.cancel_scope.cancel()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "verb:hook /jbtrio/gather/1  timeout" in out
    assert "caller pressed 2" in out and "Connecting you to support" in out


async def test_cli_a_bad_script_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "caller.json"
    script.write_text('{"turns": [{"sya": "hi"}]}')
    code = await run_async(parse("ws://app/", "--script", str(script)))
    assert code == 2
    assert capsys.readouterr().err == (
        f"jbtrio call: bad --script: {script}: turns[0]: unknown key(s) ['sya']; "
        "allowed: ['confidence', 'digits', 'say']\n"
    )
