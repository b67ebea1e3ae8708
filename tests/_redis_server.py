"""Real ``redis-server`` processes for the tests, each on a free loopback port.

No system service and no mock: a test that needs Redis starts its own (about 10 ms) with
:func:`start_redis`, and can stop, kill or restart it mid-test. ``scripts/test`` (and so
``.ci/run``) installs ``redis-server`` when it is missing; under ``CI=true`` a missing
``redis-server`` fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import pytest
import trio

__all__ = ["RedisServer", "free_port", "redis_binary", "start_redis"]

#: Seconds a redis-server has to say it is ready.
READY_WITHIN = 10.0


def redis_binary() -> str:
    """The path of ``redis-server``; skips the test (fails it under ``CI=true``) without."""
    found = shutil.which("redis-server")
    if found is None:
        why = "redis-server is not installed: `bash scripts/test` installs it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{why} (and CI must run the Redis tests)")
        pytest.skip(why)
    return found


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process (persistence off), restartable on the same port."""

    def __init__(
        self, binary: str, directory: Path, nursery: trio.Nursery, port: int | None = None
    ) -> None:
        self.binary = binary
        self._nursery = nursery
        self.directory = directory
        self.port = port if port is not None else free_port()
        self.process: trio.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start it and wait for "Ready to accept connections" in its log."""
        assert self.process is None, "already running"
        self.starts += 1
        process = await trio.lowlevel.open_process(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--protected-mode", "no",
                "--dir", str(self.directory),
                "--loglevel", "notice",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self.process = process
        assert process.stdout is not None
        seen = b""
        with trio.fail_after(READY_WITHIN):
            while b"Ready to accept connections" not in seen:
                chunk = await process.stdout.receive_some(4096)
                if not chunk:
                    raise RuntimeError(f"redis-server exited: {seen.decode(errors='replace')}")
                seen = seen[-4096:] + chunk
        # Keep reading its log so that it never blocks on a full pipe.
        self._nursery.start_soon(_drain, process.stdout, name="redis-server log")

    async def restart(self) -> None:
        """Kill it (every key is lost) and start it again on the same port."""
        await self.stop(kill=True)
        await self.start()

    async def stop(self, *, kill: bool = False) -> None:
        """Stop it (SIGKILL with ``kill``: it loses every key, as a crash does)."""
        process, self.process = self.process, None
        if process is None:
            return
        if kill:
            process.kill()
        else:
            process.terminate()
        with trio.CancelScope(shield=True):
            await process.wait()


async def _drain(stream: trio.abc.ReceiveStream) -> None:
    with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while await stream.receive_some(65536):
            pass


@asynccontextmanager
async def start_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A running redis-server for the block (killed at its end)."""
    binary = redis_binary()
    async with trio.open_nursery() as nursery:
        server = RedisServer(binary, tmp_path, nursery)
        await server.start()
        try:
            yield server
        finally:
            await server.stop(kill=True)
            nursery.cancel_scope.cancel()
