"""The fake's ``listen`` verb (``stream`` is normalised to it): the call's audio on a socket.

As jambonz does (``docs/jambonz.md``, "Audio sockets"): one ``audio.drachtio.org`` websocket
per verb, run by :func:`~jbtrio.testing.audio.run_listen` with the caller's
:class:`~jbtrio.testing.audio.AudioScript` (``Caller(audio=...)``); a relative ``url``
reaches the app where its call socket does, with the call's credentials; when the verb ends
its ``actionHook`` carries the listen results (:class:`~jbtrio.ListenResult`). The socket is
opened with the call's own connector when it goes to the app's host (so an in-process app
gets it in memory), over TCP otherwise; a test may send it elsewhere (``audio_connector``,
e.g. an :func:`~jbtrio.testing.audio.open_audio_server`).

A socket that cannot be opened, and anything the app does wrong on it, is a fault of the
call: jambonz would stream nothing, or ignore what it cannot play.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from ._audio import run_listen
from ._exec_base import ExecutorBase

__all__ = ["ListenVerbs"]


class ListenVerbs(ExecutorBase):
    """``listen`` (and ``stream``)."""

    async def _verb_listen(self, verb: dict[str, Any]) -> None:
        url = str(verb.get("url", ""))
        target = self.call_target
        connector = self.audio_connector
        if connector is None and _same_host(url, self.call_url):
            connector = target.connector
        legs = len(self.record.audio_legs)
        outcome = await run_listen(
            verb,
            call_info=self.call_info(),
            base_url=self.call_url,
            connector=connector,
            username=target.username,
            password=target.password,
            script=self.caller.audio,
            config=self.config,
            log=self.log,
            legs=self.record.audio_legs,
        )
        if outcome.reason == "connect_failed":
            self.record.fault(f"listen {url}: the audio socket failed ({outcome.detail})")
        for leg in self.record.audio_legs[legs:]:
            for fault in leg.faults:
                self.record.fault(f"listen {url}: {fault}")
        result = await self._hook(verb, "actionHook", **outcome.hook_data())
        await self._after_hook(verb, "actionHook", result)


def _same_host(url: str, call_url: str) -> bool:
    """Whether ``url`` reaches the app's own host (a relative one always does)."""
    if url.startswith("/"):
        return True
    return urllib.parse.urlsplit(url).netloc == urllib.parse.urlsplit(call_url).netloc
