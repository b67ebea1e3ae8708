"""``jbtrio audio URL``: jambonz's side of one audio socket from the command line."""

from __future__ import annotations

import argparse

import pytest
import trio
import trio.testing

from jbtrio._cli import parse_command_line
from jbtrio.testing._cli_audio import run_async
from jbtrio.testing.audio import open_audio_server


def parse(*argv: str) -> argparse.Namespace:
    return parse_command_line(["audio", *argv])


async def test_audio_command_streams_and_reports(
    autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    from examples.audio_echo import audio

    args = parse("ws://app/echo", "--seconds", "2", "--streaming", "--dtmf", "0.5:7")
    async with open_audio_server(audio) as server:
        code = await run_async(args, connector=server.connect)
    out, err = capsys.readouterr()
    assert code == 0
    assert '"dtmf":"7"' in out
    assert '{"type":"mark","data":{"name":"second-1"}}' in out
    assert "stream duration after 4.00 s" in err
    assert "marks: second-1 playout" in err


async def test_audio_command_fails_when_nothing_serves_the_path(
    autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    from jbtrio.audio import AudioRoutes

    async with open_audio_server(AudioRoutes()) as server:
        code = await run_async(parse("ws://app/none", "--quiet"), connector=server.connect)
    assert code == 1
    assert "connect_failed" in capsys.readouterr().err
