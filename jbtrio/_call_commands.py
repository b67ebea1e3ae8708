"""The commands a call offers: one method per jambonz command sub-type, and ``send`` for any.

Each is a one-line wrapper over a builder of :mod:`jbtrio.commands`, sent through the call's
ordered, reconnect-proof outbound queue; kept apart from :class:`~jbtrio.Call` so that the
call's own logic (flows, routing, tools) reads without twenty-five wrappers in the way. The
one command whose shape depends on the call's state, ``tool_output`` (the running ``llm``
vendor's), lives with tool serving. ``call.agent`` groups the updates of a running ``agent``
verb (jambonz 10.x/11.x).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from . import commands
from ._runtime import CallSession
from ._wire import Command

__all__ = ["AgentUpdates", "CallCommands", "Verbs"]

Verbs = Iterable[Mapping[str, Any] | Any]
"""Verbs as the commands take them: builders or wire dicts."""


class AgentUpdates:
    """``call.agent``: change the call's running ``agent`` verb (``agent:update``).

    jambonz 10.x/11.x only: on a call whose target is ``jambonz="0.9"`` each raises
    :class:`~jbtrio.VerbError` (0.9.8 would ignore the command). The updates apply to the
    agent running when jambonz reads them; with none running, jambonz drops them.
    """

    def __init__(self, send: Callable[[Command], Awaitable[None]]) -> None:
        self._send = send

    async def update_instructions(self, instructions: str) -> None:
        """Replace the agent's system prompt for the rest of the conversation."""
        await self._send(commands.agent_update_instructions(instructions))

    async def inject_context(self, messages: Iterable[Mapping[str, Any]]) -> None:
        """Append ``messages`` (``{"role", "content"}``) to the agent's conversation history."""
        await self._send(commands.agent_inject_context(messages))

    async def update_tools(self, tools: Iterable[Mapping[str, Any]]) -> None:
        """Replace the agent's tools (in its LLM's format), from its next turn on."""
        await self._send(commands.agent_update_tools(tools))

    async def generate_reply(
        self,
        user_input: str | None = None,
        *,
        instructions: str | None = None,
        interrupt: bool | None = None,
    ) -> None:
        """Make the agent speak now, prompted with ``user_input`` (and one-shot
        ``instructions``): at once when idle, after its current turn unless ``interrupt``."""
        await self._send(
            commands.agent_generate_reply(
                user_input, instructions=instructions, interrupt=interrupt
            )
        )

    async def update(self, data: Mapping[str, Any]) -> None:
        """Any ``agent:update`` (``data["type"]`` one of the four above)."""
        await self._send(commands.agent_update(data))


class CallCommands:
    """The command methods of :class:`~jbtrio.Call` (its base class)."""

    session: CallSession

    @property
    def agent(self) -> AgentUpdates:
        """Updates to the running ``agent`` verb: ``await call.agent.generate_reply(...)``."""
        return AgentUpdates(self.send)

    async def send(self, command: Command) -> None:
        """Queue any command (see :mod:`jbtrio.commands`), waiting if the queue is full."""
        await self.session.send(command)

    async def redirect(self, verbs: Verbs, *, queue: bool = False) -> None:
        """Run ``verbs`` now (replacing the verb stack), or after it when ``queue``."""
        await self.send(commands.redirect(verbs, queue=queue))

    async def redirect_to_hook(
        self, call_hook: str | None = None, *, child_call_hook: str | None = None
    ) -> None:
        """Hand the call (or the dialed leg) to the app at another hook (``session:redirect``)."""
        await self.send(commands.redirect_to_hook(call_hook, child_call_hook=child_call_hook))

    async def redirect_legs(
        self, parent_call: Verbs | None = None, child_call: Verbs | None = None
    ) -> None:
        """During a dial, give the parent and/or the dialed leg new verbs; the child then
        runs as its own session (``session:adulting`` on ``<path>/adulting``)."""
        await self.send(commands.redirect_legs(parent_call, child_call))

    async def hangup(self) -> None:
        """Hang the call up (``call:status`` ``completed``)."""
        await self.send(commands.hangup())

    async def no_answer(self) -> None:
        """Reject an unanswered inbound call / cancel an unanswered outbound one."""
        await self.send(commands.no_answer())

    async def config(self, props: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        """Apply ``config`` verb properties now."""
        await self.send(commands.config(props, **kwargs))

    async def mute(self, mute: bool = True, *, call_sid: str | None = None) -> None:
        """Mute (or unmute) a leg during a dial or conference (``callSid`` for the B-leg)."""
        await self.send(commands.mute("mute" if mute else "unmute", call_sid=call_sid))

    async def conf_mute(self, mute: bool = True) -> None:
        """In a conference: (un)mute every non-moderator."""
        await self.send(commands.conf_mute("mute" if mute else "unmute"))

    async def conf_hold(self, hold: bool = True, *, wait_hook: str | None = None) -> None:
        """In a conference: hold (or unhold) this member, ``wait_hook`` playing meanwhile."""
        await self.send(commands.conf_hold("hold" if hold else "unhold", wait_hook=wait_hook))

    async def conf_participant_action(self, action: Any, **kwargs: Any) -> None:
        """In a conference: tag/untag/coach/uncoach/hold/unhold/mute/unmute/kick."""
        await self.send(commands.conf_participant_action(action, **kwargs))

    async def listen_status(self, status: Any) -> None:
        """Pause or resume the running ``listen``."""
        await self.send(commands.listen_status(status))

    async def stream_status(self, status: Any) -> None:
        """Pause or resume the running ``stream``."""
        await self.send(commands.stream_status(status))

    async def transcribe_status(self, status: Any) -> None:
        """Pause or resume transcription."""
        await self.send(commands.transcribe_status(status))

    async def record(self, action: Any, **kwargs: Any) -> None:
        """Start/stop/pause/resume SIPREC or cloud recording."""
        await self.send(commands.record(action, **kwargs))

    async def whisper(self, verbs: Verbs, *, call_sid: str | None = None) -> None:
        """Play ``say``/``play`` verbs to one leg of a dial (``call_sid`` for the B-leg)."""
        await self.send(commands.whisper(verbs, call_sid=call_sid))

    async def dtmf(self, digit: str, duration: int | None = None, **kwargs: Any) -> None:
        """Send DTMF (SIP INFO) on the call (``call_sid=`` for the B-leg)."""
        await self.send(commands.dtmf(digit, duration, **kwargs))

    async def sip_request(self, method: str, **kwargs: Any) -> None:
        """Send an in-dialog SIP request (INFO, NOTIFY, MESSAGE, ...)."""
        await self.send(commands.sip_request(method, **kwargs))

    async def dub(self, action: Any, track: str, **kwargs: Any) -> None:
        """Add/remove/silence a dub track or play/say on it."""
        await self.send(commands.dub(action, track, **kwargs))

    async def dial(self, **kwargs: Any) -> None:
        """Create a new outbound call from this one (REST createCall body)."""
        await self.send(commands.dial(**kwargs))

    async def boost_audio_signal(self, db: int | float | str, **kwargs: Any) -> None:
        """Adjust the gain of the main track (dB, or a string such as ``"-6 dB"``)."""
        await self.send(commands.boost_audio_signal(db, **kwargs))

    async def media_path(self, path: Any) -> None:
        """During a dial: ``no-media``, ``partial-media`` or ``full-media``."""
        await self.send(commands.media_path(path))

    async def llm_update(self, data: Mapping[str, Any]) -> None:
        """Send a vendor-native update to the running ``llm`` verb."""
        await self.send(commands.llm_update(data))

    async def stt_reconfigure(
        self, language_hints: Iterable[str], *, call_sid: str | None = None
    ) -> None:
        """Change the recognizer's language hints mid-call (jambonz 10.x/11.x)."""
        await self.send(commands.stt_reconfigure(language_hints, call_sid=call_sid))

    async def noise_isolation(self, enable: bool = True, **kwargs: Any) -> None:
        """Turn noise isolation on or off (``vendor``, ``level``, ``model``, ``call_sid``;
        jambonz 10.x/11.x)."""
        await self.send(commands.noise_isolation("enable" if enable else "disable", **kwargs))

    async def room_say(self, text: str | Iterable[str], **kwargs: Any) -> None:
        """Speak into the room the call is in, heard by every member (``synthesizer``,
        ``loop``, ``id``, ``replace``, ``call_sid``; jambonz 10.x/11.x)."""
        await self.send(commands.room_say(text, **kwargs))

    async def room_play(self, url: str, **kwargs: Any) -> None:
        """Play audio into the room the call is in (``id``, ``replace``, ``call_sid``;
        jambonz 10.x/11.x)."""
        await self.send(commands.room_play(url, **kwargs))
