"""Prometheus metrics of a jbtrio server (``jbtrio_*``), made with ``prometheus_client``.

One module owns them: :class:`Metrics` is an observer (:mod:`._observe`) told when a call
starts and ends, when the app replies to a hook and when an upgrade is refused; the per-frame
counts (frames and bytes in/out, drops) are the call's own integers (:class:`CallStats`),
added to the counters when the call ends and, for calls in progress, when the page is made
(:meth:`Metrics.exposition`), so the hot paths pay no metric call.

Components that count for themselves (a cluster instance's relays and leases:
``jbtrio_cluster_*``) put :class:`~._observe.Reading` s on the page
(:func:`~._observe.add_readings`); they are read when the page is made, by this process's
``/metrics`` (with ``--workers``, the acceptor's own values are added to the workers').

Labels are bounded: ``path`` is the app's mount the call came in on (a route declared with
``App.flow``/``App.route``, ``other`` when the router cannot say), never the raw request
path; ``status`` is an HTTP status.

With ``jbtrio serve --workers N`` the processes share one page through
``prometheus_client``'s multiprocess mode: the acceptor makes a directory for the run
(removed at exit), the workers inherit it in ``PROMETHEUS_MULTIPROC_DIR`` and write their
values there, and the acceptor's ``/metrics`` adds them up (:func:`multiprocess_exposition`).
A worker's calls in progress count their frames when they end.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator

import trio
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .._core import ReplyHandle
from . import _observe
from ._observe import CallStats, ObservedCall, Reading

__all__ = ["Metrics", "multiprocess_exposition"]

#: Call durations (seconds): a call lasts seconds to an hour.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
#: Hook -> ack latency (seconds): jambonz waits 5 s at most, a good app answers in ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The ``jbtrio_*`` metrics in ``registry`` (a new one by default), fed as an observer
    of this process's calls once :meth:`install` ed. ``route_of(path)`` names the app's mount
    a request path belongs to (``App.mount_of``); ``routes`` are the mounts (``App.paths``)."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        route_of: Callable[[str], str | None] | None = None,
        routes: Iterable[str] = (),
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True) if registry is None else registry
        self._route_of = route_of
        reg = self.registry
        self.calls_total = Counter(
            "jbtrio_calls", "Calls started, by the app's mount", ["path"], registry=reg
        )
        self.calls_active = Gauge(
            "jbtrio_calls_active",
            "Calls in progress, by the app's mount",
            ["path"],
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.call_duration = Histogram(
            "jbtrio_call_duration_seconds",
            "How long calls lasted",
            ["path"],
            buckets=DURATION_BUCKETS,
            registry=reg,
        )
        self.hook_latency = Histogram(
            "jbtrio_hook_ack_latency_seconds",
            "From a hook's arrival to the app's reply (acks the core sent for the app excluded)",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.reconnects = _counter(reg, "reconnects", "Calls resumed on a new socket")
        self.auto_acks = _counter(
            reg, "auto_acks", "Acks sent on the app's behalf at the reply deadline"
        )
        self.late_replies = _counter(
            reg, "late_replies", "App replies refused: already answered, too late or abandoned"
        )
        self.errors = _counter(reg, "call_errors", "App crashes, core failures, aborted calls")
        self.dropped = _counter(
            reg, "dropped_frames", "Inbound frames skipped or messages dropped (inbox full)"
        )
        self.oversized = _counter(
            reg, "oversized_frames", "Sockets closed with 1009 for a frame over the limit"
        )
        self.resent = _counter(reg, "receipts_resent", "Frames lost in a drop and re-sent")
        self.unconfirmed = _counter(
            reg, "receipts_unconfirmed", "Frames of a drop whose fate stayed unknown"
        )
        self.stall_recoveries = _counter(
            reg, "stall_recoveries", "Sockets closed with 1011 to release held messages"
        )
        self.frames = Counter(
            "jbtrio_frames", "Websocket frames", ["path", "direction"], registry=reg
        )
        self.bytes = Counter(
            "jbtrio_bytes", "Websocket payload bytes", ["path", "direction"], registry=reg
        )
        self.tts_requests = _counter(
            reg, "tts_requests", "Text chunks, flushes and clears the app streamed"
        )
        self.tts_messages = _counter(
            reg, "tts_messages", "tts:tokens messages sent (requests / messages: coalescing)"
        )
        self.upgrades_refused = Counter(
            "jbtrio_upgrades_refused",
            "Websocket upgrades refused, by HTTP status (400 subprotocol, 401 credentials, "
            "404 no app, 503 full or draining)",
            ["status"],
            registry=reg,
        )
        reg.register(ReadingsCollector())
        for route in routes:  # the app's mounts show (at 0) before their first call
            self.calls_total.labels(route)
            self.calls_active.labels(route)
        self._latency_of: dict[str, Histogram] = {}  # the labelled children, by mount
        # calls in progress: their label and what of their counters is already added
        # label and the counts flushed so far (None: nothing yet; most calls end before
        # the page is made, and a CallStats per call is ~180 B, issue 23)
        self._live: weakref.WeakKeyDictionary[ObservedCall, tuple[str, CallStats | None]] = (
            weakref.WeakKeyDictionary()
        )

    # ------------------------------------------------------------------ installing

    def install(self) -> Metrics:
        """Be told of this process's calls from now on."""
        _observe.add_observer(self)
        return self

    def uninstall(self) -> None:
        """Stop being told."""
        _observe.remove_observer(self)

    # ------------------------------------------------------------------ the observer

    def _label(self, path: str) -> str:
        route = self._route_of(path) if self._route_of is not None else None
        return route if route is not None else "other"

    def call_started(self, session: ObservedCall) -> None:
        label = self._label(session.path)
        self._live[session] = (label, None)
        self.calls_total.labels(label).inc()
        self.calls_active.labels(label).inc()

    def call_ended(self, session: ObservedCall) -> None:
        live = self._live.pop(session, None)
        if live is None:
            return  # ended before its app started
        label, flushed = live
        self.calls_active.labels(label).dec()
        stats = session.stats
        if stats.started_at is not None:
            self.call_duration.labels(label).observe(trio.current_time() - stats.started_at)
        self._flush(label, stats, CallStats() if flushed is None else flushed)

    def tool_ran(
        self, session: ObservedCall, name: str, started_at: float, error: BaseException | None
    ) -> None:
        """Not counted (the tool's own metrics are the app's)."""

    def replied(self, session: ObservedCall, handle: ReplyHandle, latency: float) -> None:
        live = self._live.get(session)
        label = live[0] if live is not None else "other"
        child = self._latency_of.get(label)
        if child is None:  # once per mount: labels() takes a lock and builds a key
            child = self._latency_of[label] = self.hook_latency.labels(label)
        child.observe(latency)

    def upgrade_refused(self, status: int) -> None:
        self.upgrades_refused.labels(str(status)).inc()

    # ------------------------------------------------------------------ the page

    def _flush(self, label: str, stats: CallStats, flushed: CallStats) -> None:
        """Add what ``stats`` counted since ``flushed`` to the counters; ``flushed`` catches
        up."""
        for field, counter in (
            ("reconnects", self.reconnects),
            ("auto_acks", self.auto_acks),
            ("late_replies", self.late_replies),
            ("errors", self.errors),
            ("dropped", self.dropped),
            ("oversized", self.oversized),
            ("resent", self.resent),
            ("unconfirmed", self.unconfirmed),
            ("stall_recoveries", self.stall_recoveries),
            ("tts_requests", self.tts_requests),
            ("tts_messages", self.tts_messages),
        ):
            delta = getattr(stats, field) - getattr(flushed, field)
            if delta:
                counter.labels(label).inc(delta)
                setattr(flushed, field, getattr(stats, field))
        for field, family, direction in (
            ("frames_in", self.frames, "in"),
            ("frames_out", self.frames, "out"),
            ("bytes_in", self.bytes, "in"),
            ("bytes_out", self.bytes, "out"),
        ):
            delta = getattr(stats, field) - getattr(flushed, field)
            if delta:
                family.labels(label, direction).inc(delta)
                setattr(flushed, field, getattr(stats, field))

    def exposition(self) -> tuple[bytes, str]:
        """The page (Prometheus text format) and its content type; calls in progress add
        their counts first."""
        for session, (label, flushed_so_far) in list(self._live.items()):
            flushed = flushed_so_far
            if flushed is None:
                flushed = CallStats()
                self._live[session] = (label, flushed)
            self._flush(label, session.stats, flushed)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class ReadingsCollector(Collector):
    """The :class:`~._observe.Reading` s of this process, read as the page is made (one
    family per name, the sources' values added up)."""

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, tuple[Reading, float]] = {}
        for reading in _observe.readings():
            seen = merged.get(reading.name)
            total = reading.value + (seen[1] if seen is not None else 0.0)
            merged[reading.name] = (reading, total)
        for name, (reading, total) in sorted(merged.items()):
            family: Metric
            if reading.gauge:
                family = GaugeMetricFamily(f"jbtrio_{name}", reading.documentation, value=total)
            else:
                family = CounterMetricFamily(f"jbtrio_{name}", reading.documentation, value=total)
            yield family


def _counter(registry: CollectorRegistry, name: str, documentation: str) -> Counter:
    return Counter(f"jbtrio_{name}", documentation, ["path"], registry=registry)


def multiprocess_exposition() -> tuple[bytes, str]:
    """The page of every process writing to ``PROMETHEUS_MULTIPROC_DIR`` (the acceptor's
    ``/metrics`` with ``--workers``)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(ReadingsCollector())  # the acceptor's own (a cluster's relays)
    return generate_latest(registry), CONTENT_TYPE_LATEST
