"""The reconnect sweep (``fuzz/sweep.py``) in CI: a call's line cut at every 30 bytes of
what the app sends and at each frame's end, with three delays, once and twice per call, for
a flow with hooks, one with asynchronous commands and one with late yields — through the
fake jambonz with 0.9.8's re-key stall. Nothing may be lost, duplicated or left stalled;
the only calls allowed to differ are the ones jambonz itself hangs up (the ack of a
``session:reconnect`` cut on the line)."""

from __future__ import annotations

import logging

import pytest
import trio

from fuzz.sweep import APPS, LineCut, run_call, sweep


async def test_the_sweep_loses_duplicates_and_stalls_nothing(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL)
    report = await sweep(list(APPS), twice=True)
    for name, tally in report.items():
        assert tally["runs"] > 50, name
        bad = {k: tally[k] for k in ("lost", "duplicated", "stalled")}
        assert bad == {"lost": 0, "duplicated": 0, "stalled": 0}, (name, tally["failures"])
        assert tally["identical"] + tally["jambonz_hung_up"] == tally["runs"]


async def test_a_cut_line_goes_dead_then_resets(autojump_clock: trio.testing.MockClock) -> None:
    # The instrument itself: bytes flow up to the cut, none after, and the reset comes later.
    clean = await run_call("hooks")
    cut = await run_call("hooks", (clean.frame_ends[0],), 1.5)
    assert cut.verbs == clean.verbs
    line = LineCut((10,), 0.0)
    assert line.next_cut() == 10
