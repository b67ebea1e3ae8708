"""The fake's media verbs: ``say``, ``play``, ``pause``, ``gather`` and the verbs that end or
tag the call.

Media itself is not simulated: a ``say`` lasts ``len(text) * say_seconds_per_char``, a
``gather`` answers with the caller's next scripted turn (speech or digits, after
``response_delay``), or times out on silence.
"""

from __future__ import annotations

from typing import Any

import trio

from ._caller import HangUp, Silence, Turn
from ._exec_base import ExecutorBase

__all__ = ["MediaVerbs"]


class MediaVerbs(ExecutorBase):
    """``say``, ``play``, ``pause``, ``config``, ``hangup``, ``sip:decline``, ``tag``,
    ``gather``."""

    async def _verb_config(self, verb: dict[str, Any]) -> None:
        await self._apply_config(verb)

    @staticmethod
    def _loops(verb: dict[str, Any]) -> int | None:
        loop = verb.get("loop", 1)
        if loop in ("forever", 0, "0"):
            return None
        try:
            return max(1, int(loop))
        except (TypeError, ValueError):
            return 1

    async def _verb_say(self, verb: dict[str, Any]) -> None:
        if verb.get("stream") is True:
            await self._streaming_say()
            return
        text = verb.get("text", "")
        if isinstance(text, list):
            text = text[0] if text else ""
        text = str(text)
        self.record.spoken.append(text)
        loops = self._loops(verb)
        if loops is None:
            await trio.sleep_forever()
        await trio.sleep(self.say_seconds(text) * (loops or 1))

    async def _verb_play(self, verb: dict[str, Any]) -> None:
        urls = verb.get("url", [])
        count = len(urls) if isinstance(urls, list) else 1
        loops = self._loops(verb)
        if loops is None:
            await trio.sleep_forever()
        seconds = self.config.play_seconds * count * (loops or 1)
        await trio.sleep(seconds)
        result = await self._hook(
            verb, "actionHook", reason="playCompleted", playback_seconds=seconds
        )
        await self._after_hook(verb, "actionHook", result)

    async def _verb_pause(self, verb: dict[str, Any]) -> None:
        length = verb.get("length", 1)
        await trio.sleep(float(length) if isinstance(length, int | float) else 1.0)

    async def _verb_hangup(self, verb: dict[str, Any]) -> None:
        self.finish("completed", "app hung up", "app")

    async def _verb_sip_decline(self, verb: dict[str, Any]) -> None:
        self.finish("completed", f"app declined the call ({verb.get('status')})", "app")

    async def _verb_tag(self, verb: dict[str, Any]) -> None:
        self.customer_data = verb.get("data")

    async def _verb_gather(self, verb: dict[str, Any]) -> None:
        inputs = verb.get("input") or ["digits"]
        for prompt in ("say", "play"):
            nested = verb.get(prompt)
            if isinstance(nested, dict):
                await getattr(self, f"_verb_{prompt}")({"verb": prompt, **nested})
        timeout = verb.get("timeout")
        if not isinstance(timeout, int | float) or timeout <= 0:
            timeout = self.config.gather_timeout
        result: dict[str, Any] = {"reason": "timeout"}
        with trio.move_on_after(timeout):
            turn = await self._next_turn()
            if isinstance(turn, HangUp):
                await trio.sleep(self.caller.response_delay)
                self.finish("completed", "caller hung up", "caller")
                await trio.sleep_forever()  # finish() cancels this verb
            if isinstance(turn, Silence) or turn.kind not in inputs:
                await trio.sleep_forever()
            assert isinstance(turn, Turn)
            await trio.sleep(self.caller.response_delay)
            if turn.kind == "speech":
                if self.tts.is_connected:
                    await self._emit_tts(self.tts.user_interruption(trio.current_time()))
                result = {
                    "speech": {
                        "is_final": True,
                        "alternatives": [{"confidence": turn.confidence, "transcript": turn.value}],
                        "language_code": "en-US",
                    },
                    "reason": "speechDetected",
                }
            else:
                finish = verb.get("finishOnKey")
                digits = (
                    turn.value.split(finish)[0]
                    if isinstance(finish, str) and finish
                    else (turn.value)
                )
                result = {"digits": digits, "reason": "dtmfDetected"}
        await self._after_hook(verb, "actionHook", await self._hook(verb, "actionHook", **result))
