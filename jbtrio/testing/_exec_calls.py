"""The fake's verbs that reach other parties: ``dial`` (with ``dial:confirm``), ``redirect``,
and jambonz 11.x's ``transfer`` and ``room`` (``conference``).

A ``dial`` plays the caller's scripted :class:`~jbtrio.testing.DialOutcome`: the B-leg's
``call:status`` messages, a ``dial:confirm`` round trip when the verb has a confirm hook,
then the ``actionHook`` with the dial results. A ``transfer`` plays a
:class:`~jbtrio.testing.ScriptedTransfer` the same way (the destination's ``call:status``,
then ``transfer_result``/``transfer_reason`` in the ``actionHook``). A ``conference`` or
``room`` keeps the caller ``conference_seconds``, then the conference ends (its
``actionHook``, call info only); ``room:say`` speaks into it meanwhile.
"""

from __future__ import annotations

from typing import Any

import trio

from ._acks import AckFailed, AckOk
from ._caller import DialOutcome, ScriptedTransfer
from ._exec_base import ExecutorBase, hook_url

__all__ = ["CallVerbs"]


class CallVerbs(ExecutorBase):
    """``redirect``, ``dial``, ``transfer``, ``conference`` and ``room``."""

    async def _verb_transfer(self, verb: dict[str, Any]) -> None:
        outcome: ScriptedTransfer = (
            self._transfers.pop(0) if len(self._transfers) > 1 else self._transfers[0]
        )
        raw_targets = verb.get("target")
        targets: list[Any] = raw_targets if isinstance(raw_targets, list) else []
        first = targets[0] if targets and isinstance(targets[0], dict) else {}
        destination: dict[str, Any] = {
            "call_sid": outcome.dial_call_sid,
            "direction": "outbound",
            "from": verb.get("callerId", self.info.get("from")),
            "to": first.get("number") or first.get("name") or first.get("sipUri") or "",
            "parent_call_sid": self.info.get("call_sid"),
            "account_sid": self.info.get("account_sid"),
        }
        await trio.sleep(self.config.dial_answer_seconds)
        if outcome.result == "bridged":
            destination.update(call_status="in-progress", sip_status=200)
            await self.notifier.notify("call:status", dict(destination))
            await trio.sleep(outcome.duration)
            destination.update(call_status="completed", duration=round(outcome.duration))
        else:
            status = {"no-answer": "no-answer", "busy": "busy"}.get(outcome.reason, "failed")
            destination.update(call_status=status, sip_status=outcome.sip_status)
        await self.notifier.notify("call:status", dict(destination))
        result = await self._hook(
            verb,
            "actionHook",
            transfer_result=outcome.result,
            transfer_reason=outcome.reason,
            dial_call_sid=outcome.dial_call_sid,
            sip_status=outcome.sip_status,
        )
        await self._after_hook(verb, "actionHook", result)

    async def _verb_conference(self, verb: dict[str, Any]) -> None:
        await trio.sleep(self.caller.conference_seconds)
        result = await self._hook(verb, "actionHook")
        await self._after_hook(verb, "actionHook", result)

    async def _verb_room(self, verb: dict[str, Any]) -> None:
        await self._verb_conference(verb)

    async def _verb_redirect(self, verb: dict[str, Any]) -> None:
        """``session:redirect`` on this socket for a relative hook; for an absolute ws(s) URL a
        new socket opens with ``session:redirect`` as its first message and takes over the
        hooks, while the old one stays open for ``call:status`` (redirect.js, CS:126-135)."""
        action = verb.get("actionHook")
        url = hook_url(action)
        if url is None:
            return
        if url.startswith(("ws://", "wss://")) and self._open_socket is not None:
            creds = action if isinstance(action, dict) else {}
            user, password = creds.get("username"), creds.get("password")
            new = self._open_socket(
                url,
                user if isinstance(user, str) else None,
                password if isinstance(password, str) else None,
            )
            assert self._nursery is not None
            self._nursery.start_soon(
                self._watch_reconnect, new, name=f"fake-jambonz[{self.info.get('call_sid')}].rw"
            )
            result = await new.start_session(self._hook_data(verb), "session:redirect", url)
            if isinstance(result, AckOk):
                self.requestor = new
        else:
            result = await self.requestor.request("session:redirect", self._hook_data(verb), url)
        if isinstance(result, AckOk):
            accepted = self._accept_ack("session:redirect", url, result)
            if isinstance(accepted, list):
                if accepted:
                    self.stack = accepted
                return
            self.record.fault(f"session:redirect {url}: {accepted}")
        elif result.timed_out:
            self.record.fault(f"session:redirect {url} ack timed out")
        else:
            self.log.info("redirect to %s failed: %s", url, result.reason)

    async def _verb_dial(self, verb: dict[str, Any]) -> None:
        outcome: DialOutcome = self._dials.pop(0) if len(self._dials) > 1 else self._dials[0]
        raw_targets = verb.get("target")
        targets: list[Any] = raw_targets if isinstance(raw_targets, list) else []
        first = targets[0] if targets and isinstance(targets[0], dict) else {}
        confirm = hook_url(verb.get("confirmHook")) or next(
            (hook_url(t.get("confirmHook")) for t in targets if isinstance(t, dict)), None
        )
        b_leg: dict[str, Any] = {
            "call_sid": outcome.to_call_sid,
            "direction": "outbound",
            "from": verb.get("callerId", self.info.get("from")),
            "to": first.get("number") or first.get("name") or first.get("sipUri") or "",
            "call_status": "trying",
            "sip_status": 100,
            "parent_call_sid": self.info.get("call_sid"),
            "account_sid": self.info.get("account_sid"),
        }
        await trio.sleep(self.config.dial_answer_seconds)
        answered = outcome.answered
        if answered:
            b_leg.update(call_status="in-progress", sip_status=200)
            await self.notifier.notify("call:status", dict(b_leg))
            if confirm is not None:
                answered = await self._dial_confirm(confirm, b_leg)
        if answered:
            await trio.sleep(outcome.duration)
            duration = round(outcome.duration)
            b_leg.update(call_status="completed", duration=duration)
            status, sip = "completed", 200
        else:
            duration = 0
            status = outcome.call_status if not outcome.answered else "failed"
            sip = outcome.sip_status if not outcome.answered else 603
            b_leg.update(call_status=status, sip_status=sip)
        await self.notifier.notify("call:status", dict(b_leg))
        result = await self._hook(
            verb,
            "actionHook",
            dial_call_status=status,
            dial_sip_status=sip,
            dial_call_sid=outcome.to_call_sid,
            duration=duration,
        )
        await self._after_hook(verb, "actionHook", result)

    async def _dial_confirm(self, hook: str, b_leg: dict[str, Any]) -> bool:
        """``dial:confirm``: an empty ack bridges, verbs run on the B-leg, failure declines."""
        result = await self.requestor.request("dial:confirm", dict(b_leg), hook)
        if isinstance(result, AckFailed):
            if result.timed_out:
                self.record.fault(f"dial:confirm {hook} ack timed out")
            return False
        accepted = self._accept_ack("dial:confirm", hook, result)
        if isinstance(accepted, str):
            self.record.fault(f"dial:confirm {hook}: {accepted}")
            return False
        self.record.confirm_verbs.extend(accepted)
        return True
