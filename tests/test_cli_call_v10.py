"""``jbtrio call`` against jambonz 10.x/11.x apps: an agent script, the played release, and the
caller's audio on a listen socket."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

import jbtrio
from jbtrio.audio import AudioRoutes, AudioStream
from jbtrio.testing._cli_call import add_arguments, run_async
from jbtrio.testing.audio import open_audio_server
from jbtrio.verbs import BidirectionalAudio, Hangup, Listen

ROOT = Path(__file__).resolve().parent.parent


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="jbtrio call")
    add_arguments(parser)
    return parser.parse_args(list(argv))


@asynccontextmanager
async def serving(app: jbtrio.App) -> AsyncIterator[jbtrio.Server]:
    async with trio.open_nursery() as nursery:
        server: jbtrio.Server = await nursery.start(jbtrio.Server(app).run_in)
        yield server
        nursery.cancel_scope.cancel()


async def test_the_agent_example_with_its_script_file(
    capsys: pytest.CaptureFixture[str], autojump_clock: trio.testing.MockClock
) -> None:
    from examples.agent import app

    script = str(ROOT / "examples" / "agent_script.json")
    async with serving(app) as server:
        code = await run_async(
            parse("ws://app/agent", "--script", script), connector=server.open_memory_stream
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "agent:tool-call  order_status({'order_id': '1234'})" in out
    assert "command agent:update generate_reply" in out
    assert "turn_end (transcriber 120, turn_detection 80, model 420, voice 180 ms" in out
    assert err.strip() == "call completed: app hung up"


async def test_a_0_9_jambonz_refuses_the_agent(
    capsys: pytest.CaptureFixture[str], autojump_clock: trio.testing.MockClock
) -> None:
    from examples.agent import app

    async with serving(app) as server:
        code = await run_async(
            parse("ws://app/agent", "--jambonz", "0.9"), connector=server.open_memory_stream
        )
    assert code == 1
    assert "unknown verb 'agent': jambonz 0.9 does not have it" in capsys.readouterr().err


async def test_the_callers_audio_on_a_listen_socket(capsys: pytest.CaptureFixture[str]) -> None:
    routes = AudioRoutes()
    heard: list[int] = []

    @routes.audio("/echo")
    async def echo(stream: AudioStream) -> None:
        async for frame in stream:
            heard.append(len(frame))
            await stream.send_audio(frame)

    async with open_audio_server(routes) as audio:
        port = await audio.listen_tcp()
        app = jbtrio.App()

        @app.flow("/")
        async def flow(call: jbtrio.Call) -> jbtrio.Steps:
            yield Listen(
                url=f"ws://127.0.0.1:{port}/echo",
                max_length=1,
                bidirectional_audio=BidirectionalAudio(enabled=True, streaming=True),
            )
            yield Hangup()

        async with serving(app) as server:
            code = await run_async(
                parse("ws://app/", "--audio-seconds", "0.5", "--audio-tone", "300"),
                connector=server.open_memory_stream,
            )
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"audio ws://127.0.0.1:{port}/echo: max_length after 1.0 s" in err
    assert sum(heard) >= 0.5 * 8000 * 2  # the tone, then silence


def test_audio_options_are_checked() -> None:
    args = parse("ws://h/", "--audio-dtmf", "1.5:5", "--audio-dtmf", "2:#")
    assert args.audio_dtmf == [(1.5, "5"), (2.0, "#")]
    with pytest.raises(SystemExit):
        parse("ws://h/", "--audio-dtmf", "soon:5")
