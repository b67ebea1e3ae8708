"""Audio sockets on the call listener: ``audio.drachtio.org`` upgrades reach the app's audio
routes (``@app.audio``) through the same :class:`~jbtrio._runtime.Server` as its calls, on
either websocket backend, under MockClock."""

from __future__ import annotations

import trio
import trio.testing

import jbtrio
from jbtrio._runtime import Server, ServerConfig
from jbtrio.audio import AudioStream
from jbtrio.testing.audio import AudioScript, FakeAudioLeg, ListenSpec, Tone

CALL = {"call_sid": "call-1", "from": "15083084809", "to": "15083728299", "call_id": "x@y"}


def echo_app() -> tuple[jbtrio.App, list[AudioStream]]:
    app = jbtrio.App()
    seen: list[AudioStream] = []

    @app.audio("/echo")
    async def echo(stream: AudioStream) -> None:
        seen.append(stream)
        async for frame in stream:
            await stream.send_audio(frame)

    return app, seen


async def test_an_audio_socket_is_served_beside_the_calls(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    app, seen = echo_app()
    server = Server(app, ServerConfig(transport=transport))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run_in)
        tone = Tone(440, seconds=1.0)
        leg = FakeAudioLeg(
            ListenSpec(url="ws://app.example.com/echo", streaming=True),
            call_info=CALL,
            script=AudioScript(source=tone, duration=2.0),
            connector=server.open_memory_stream,
        )
        await leg.run()
        await trio.testing.wait_all_tasks_blocked()
        assert leg.faults == []
        assert [stream.call_sid for stream in seen] == ["call-1"]
        expected = tone.render(0, 8000, 8000, 1)
        assert leg.heard[: len(expected)] == expected
        assert server.connections == 0
        await server.shutdown(0)
        nursery.cancel_scope.cancel()


async def test_an_audio_path_nobody_serves_is_refused(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    app, seen = echo_app()
    server = Server(app, ServerConfig(transport=transport))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run_in)
        leg = FakeAudioLeg(
            ListenSpec(url="ws://app.example.com/nowhere", streaming=True),
            call_info=CALL,
            script=AudioScript(source=Tone(440, seconds=1.0), duration=1.0),
            connector=server.open_memory_stream,
        )
        outcome = await leg.run()
        assert outcome.reason == "connect_failed"
        assert "404" in outcome.detail
        assert seen == []
        await server.shutdown(0)
        nursery.cancel_scope.cancel()


async def test_an_app_without_audio_refuses_audio_sockets(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    app = jbtrio.App()

    @app.flow("/")
    async def answer(call: jbtrio.Call):  # type: ignore[no-untyped-def]
        yield jbtrio.verbs.Hangup()

    server = Server(app, ServerConfig(transport=transport))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run_in)
        leg = FakeAudioLeg(
            ListenSpec(url="ws://app.example.com/", streaming=True),
            call_info=CALL,
            script=AudioScript(source=Tone(440, seconds=1.0), duration=1.0),
            connector=server.open_memory_stream,
        )
        outcome = await leg.run()
        assert outcome.reason == "connect_failed"
        assert "400" in outcome.detail
        await server.shutdown(0)
        nursery.cancel_scope.cancel()
