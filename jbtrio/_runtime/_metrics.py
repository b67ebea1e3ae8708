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

Where the values live: in one process they are plain numbers (:class:`_PlainFamilies`,
put on the page by a collector through prometheus_client's public metric families), so a
reply's latency costs a ``bisect`` and two adds, not ``Histogram.observe``'s Python loop
over the buckets and two locked adds (3.5-5% of a server's CPU, issue 23); the page is the
same. Only prometheus_client's own metrics write ``PROMETHEUS_MULTIPROC_DIR``'s files, so
with ``--workers`` the same code feeds those (:class:`_PrometheusFamilies`): no staleness
in either mode beyond the frame counts' above.
"""

from __future__ import annotations

import operator
import os
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, Protocol, TypeVar

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
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import INF, floatToGoString

from .._core import ReplyHandle
from . import _observe
from ._buckets import Buckets
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
        multiprocess: bool | None = None,
    ) -> None:
        """``multiprocess``: feed prometheus_client's own metrics, whose values reach
        ``PROMETHEUS_MULTIPROC_DIR``'s files (``--workers``); by default, when that variable
        is set (as :func:`~._endpoints.enable_metrics` decides); else plain numbers."""
        self.registry = CollectorRegistry(auto_describe=True) if registry is None else registry
        self._route_of = route_of
        if multiprocess is None:
            multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        plain = None if multiprocess else _PlainFamilies()
        make: _Families = _PrometheusFamilies(self.registry) if plain is None else plain
        self.calls_total = make.counter("jbtrio_calls", "Calls started, by the app's mount")
        self.calls_active = make.gauge(
            "jbtrio_calls_active", "Calls in progress, by the app's mount"
        )
        self.call_duration = make.histogram(
            "jbtrio_call_duration_seconds", "How long calls lasted", DURATION_BUCKETS
        )
        self.hook_latency = make.histogram(
            "jbtrio_hook_ack_latency_seconds",
            "From a hook's arrival to the app's reply (acks the core sent for the app excluded)",
            LATENCY_BUCKETS,
        )
        self.reconnects = _counter(make, "reconnects", "Calls resumed on a new socket")
        self.auto_acks = _counter(
            make, "auto_acks", "Acks sent on the app's behalf at the reply deadline"
        )
        self.late_replies = _counter(
            make, "late_replies", "App replies refused: already answered, too late or abandoned"
        )
        self.errors = _counter(make, "call_errors", "App crashes, core failures, aborted calls")
        self.dropped = _counter(
            make, "dropped_frames", "Inbound frames skipped or messages dropped (inbox full)"
        )
        self.oversized = _counter(
            make, "oversized_frames", "Sockets closed with 1009 for a frame over the limit"
        )
        self.resent = _counter(make, "receipts_resent", "Frames lost in a drop and re-sent")
        self.unconfirmed = _counter(
            make, "receipts_unconfirmed", "Frames of a drop whose fate stayed unknown"
        )
        self.stall_recoveries = _counter(
            make, "stall_recoveries", "Sockets closed with 1011 to release held messages"
        )
        self.frames = make.counter("jbtrio_frames", "Websocket frames", ("path", "direction"))
        self.bytes = make.counter("jbtrio_bytes", "Websocket payload bytes", ("path", "direction"))
        self.tts_requests = _counter(
            make, "tts_requests", "Text chunks, flushes and clears the app streamed"
        )
        self.tts_messages = _counter(
            make, "tts_messages", "tts:tokens messages sent (requests / messages: coalescing)"
        )
        self.upgrades_refused = make.counter(
            "jbtrio_upgrades_refused",
            "Websocket upgrades refused, by HTTP status (400 subprotocol, 401 credentials, "
            "404 no app, 503 full or draining)",
            ("status",),
        )
        if plain is not None:  # its families are all made: their names can be registered
            self.registry.register(plain)
        self.registry.register(ReadingsCollector())
        # What each of a call's counts (_FIELDS) is added to, with the labels after path.
        self._families: tuple[tuple[_Labelled[_Count], tuple[str, ...]], ...] = (
            (self.reconnects, ()),
            (self.auto_acks, ()),
            (self.late_replies, ()),
            (self.errors, ()),
            (self.dropped, ()),
            (self.oversized, ()),
            (self.resent, ()),
            (self.unconfirmed, ()),
            (self.stall_recoveries, ()),
            (self.tts_requests, ()),
            (self.tts_messages, ()),
            (self.frames, ("in",)),
            (self.frames, ("out",)),
            (self.bytes, ("in",)),
            (self.bytes, ("out",)),
        )
        # The labelled children, by mount (bounded: the app's mounts and "other").
        self._mounts: dict[str, _Mount] = {}
        for route in routes:  # the app's mounts show (at 0) before their first call
            self._mount(route)
        self._latency_of: dict[str, _Observe] = {}
        # calls in progress: their mount and the counts flushed so far (None: nothing yet;
        # most calls end before the page is made, and a CallStats per call is ~180 B,
        # issue 23)
        self._live: weakref.WeakKeyDictionary[ObservedCall, tuple[_Mount, CallStats | None]] = (
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

    def _mount(self, label: str) -> _Mount:
        mount = self._mounts.get(label)
        if mount is None:
            mount = self._mounts[label] = _Mount(self, label)
        return mount

    def call_started(self, session: ObservedCall) -> None:
        mount = self._mount(self._label(session.path))
        self._live[session] = (mount, None)
        mount.started.inc()
        mount.active.inc()

    def call_ended(self, session: ObservedCall) -> None:
        live = self._live.pop(session, None)
        if live is None:
            return  # ended before its app started
        mount, flushed = live
        mount.active.dec()
        stats = session.stats
        if stats.started_at is not None:
            duration = mount.duration
            if duration is None:
                duration = mount.duration = self.call_duration.labels(mount.label)
            duration.observe(trio.current_time() - stats.started_at)
        self._flush(mount, stats, flushed)

    def tool_ran(
        self, session: ObservedCall, name: str, started_at: float, error: BaseException | None
    ) -> None:
        """Not counted (the tool's own metrics are the app's)."""

    def replied(self, session: ObservedCall, handle: ReplyHandle, latency: float) -> None:
        live = self._live.get(session)
        label = live[0].label if live is not None else "other"
        child = self._latency_of.get(label)
        if child is None:  # once per mount: labels() takes a lock and builds a key
            child = self._latency_of[label] = self.hook_latency.labels(label)
        child.observe(latency)

    def upgrade_refused(self, status: int) -> None:
        self.upgrades_refused.labels(str(status)).inc()

    # ------------------------------------------------------------------ the page

    def _flush(self, mount: _Mount, stats: CallStats, flushed: CallStats | None) -> None:
        """Add what ``stats`` counted since ``flushed`` (``None``: nothing yet) to the
        counters; ``flushed`` catches up."""
        zero = flushed is None
        self._add(mount, 0, _counts(stats), _ZERO_COUNTS if zero else _counts(flushed), flushed)
        self._add(
            mount,
            len(_COUNTED),
            _traffic(stats),
            _ZERO_TRAFFIC if zero else _traffic(flushed),
            flushed,
        )

    def _add(
        self,
        mount: _Mount,
        first: int,
        now: tuple[int, ...],
        before: tuple[int, ...],
        flushed: CallStats | None,
    ) -> None:
        if now == before:  # one C call read the group; most calls count none of it (issue 23)
            return
        for i, (value, old) in enumerate(zip(now, before, strict=True), first):
            if value != old:
                child = mount.counters[i]
                if child is None:
                    family, labels = self._families[i]
                    child = mount.counters[i] = family.labels(mount.label, *labels)
                child.inc(value - old)
                if flushed is not None:
                    setattr(flushed, _FIELDS[i], value)

    def exposition(self) -> tuple[bytes, str]:
        """The page (Prometheus text format) and its content type; calls in progress add
        their counts first."""
        for session, (mount, flushed_so_far) in list(self._live.items()):
            flushed = flushed_so_far
            if flushed is None:
                flushed = CallStats()
                self._live[session] = (mount, flushed)
            self._flush(mount, session.stats, flushed)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


#: A call's counts added to the counters when it ends (``Metrics._families``), in two
#: groups each read by one C call: those most calls leave at 0, and its traffic.
_COUNTED = (
    "reconnects",
    "auto_acks",
    "late_replies",
    "errors",
    "dropped",
    "oversized",
    "resent",
    "unconfirmed",
    "stall_recoveries",
    "tts_requests",
    "tts_messages",
)
_TRAFFIC = ("frames_in", "frames_out", "bytes_in", "bytes_out")
_FIELDS = _COUNTED + _TRAFFIC
_counts = operator.attrgetter(*_COUNTED)
_traffic = operator.attrgetter(*_TRAFFIC)
_ZERO_COUNTS = (0,) * len(_COUNTED)
_ZERO_TRAFFIC = (0,) * len(_TRAFFIC)


class _Mount:
    """The labelled children of one mount, each looked up once, not per call:
    ``labels()`` takes a lock and builds a key (issue 23). A child shows on the page once
    made, so each is made where the first call needs it, as before (the call counts at
    once; the others on their first non-zero value)."""

    __slots__ = ("active", "counters", "duration", "label", "started")

    def __init__(self, metrics: Metrics, label: str) -> None:
        self.label = label
        self.started = metrics.calls_total.labels(label)
        self.active = metrics.calls_active.labels(label)
        self.duration: _Observe | None = None
        self.counters: list[_Count | None] = [None] * len(_FIELDS)


# ---------------------------------------------------------------------- where values live

_T = TypeVar("_T")
_F = TypeVar("_F", bound="_PlainFamily[Any]")
_C_co = TypeVar("_C_co", covariant=True)


class _Labelled(Protocol[_C_co]):
    """A metric family: its child of some label values (made on first use)."""

    def labels(self, *labelvalues: str) -> _C_co: ...


class _Count(Protocol):
    def inc(self, amount: float = ...) -> None: ...


class _Level(_Count, Protocol):
    def dec(self, amount: float = ...) -> None: ...


class _Observe(Protocol):
    def observe(self, amount: float) -> None: ...


class _Families(Protocol):
    """Makes :class:`Metrics`' families (``labelnames``: ``path`` unless told)."""

    def counter(
        self, name: str, documentation: str, labelnames: Sequence[str] = ...
    ) -> _Labelled[_Count]: ...

    def gauge(self, name: str, documentation: str) -> _Labelled[_Level]: ...

    def histogram(
        self, name: str, documentation: str, buckets: Sequence[float]
    ) -> _Labelled[_Observe]: ...


class _PrometheusFamilies:
    """prometheus_client's own metrics in ``registry``: the only ones whose values reach
    ``PROMETHEUS_MULTIPROC_DIR``'s files (``--workers``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def counter(
        self, name: str, documentation: str, labelnames: Sequence[str] = ("path",)
    ) -> Counter:
        return Counter(name, documentation, labelnames, registry=self.registry)

    def gauge(self, name: str, documentation: str) -> Gauge:
        return Gauge(
            name, documentation, ("path",), registry=self.registry, multiprocess_mode="livesum"
        )

    def histogram(self, name: str, documentation: str, buckets: Sequence[float]) -> Histogram:
        return Histogram(name, documentation, ("path",), registry=self.registry, buckets=buckets)


class _PlainFamilies(Collector):
    """Families counted in plain numbers (one process: no lock, no file), put on the page by
    this collector as prometheus_client's own metrics would be: the same samples, values,
    labels and order, ``_created`` included (while prometheus_client shows it)."""

    def __init__(self) -> None:
        self._families: list[_PlainFamily[Any]] = []

    def _add(self, family: _F) -> _F:
        self._families.append(family)
        return family

    def counter(
        self, name: str, documentation: str, labelnames: Sequence[str] = ("path",)
    ) -> _PlainCounter:
        return self._add(_PlainCounter(name, documentation, labelnames))

    def gauge(self, name: str, documentation: str) -> _PlainGauge:
        return self._add(_PlainGauge(name, documentation, ("path",)))

    def histogram(self, name: str, documentation: str, buckets: Sequence[float]) -> _PlainHistogram:
        return self._add(_PlainHistogram(name, documentation, ("path",), buckets))

    def collect(self) -> Iterator[Metric]:
        created = _created_shown()
        for family in self._families:
            yield family.metric(created)

    def describe(self) -> Iterator[Metric]:
        """The families without samples: their names, registered once."""
        for family in self._families:
            yield family.metric(False, ())


class _PlainFamily(Generic[_T]):
    """A family's children by label values, in the order made (the page's order)."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.children: dict[tuple[str, ...], _T] = {}

    def labels(self, *labelvalues: str) -> _T:
        if len(labelvalues) != len(self.labelnames):
            raise ValueError(f"{self.name}: labels {self.labelnames}, got {labelvalues!r}")
        key = tuple(str(value) for value in labelvalues)
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = self._child()
        return child

    def _child(self) -> _T:
        raise NotImplementedError

    def metric(
        self, created: bool, children: Iterable[tuple[tuple[str, ...], _T]] | None = None
    ) -> Metric:
        """The family on the page (``children``: all, unless told)."""
        raise NotImplementedError


class _Value:
    """A counter's child: a float, as prometheus_client's."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        self.value += amount


class _Gauged(_Value):
    """A gauge's child."""

    __slots__ = ()

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.value -= amount


class _PlainCounter(_PlainFamily[_Value]):
    def _child(self) -> _Value:
        return _Value()

    def metric(
        self, created: bool, children: Iterable[tuple[tuple[str, ...], _Value]] | None = None
    ) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in tuple(self.children.items()) if children is None else children:
            family.add_metric(key, child.value, child.created if created else None)
        return family


class _PlainGauge(_PlainFamily[_Gauged]):
    def _child(self) -> _Gauged:
        return _Gauged()

    def metric(
        self, created: bool, children: Iterable[tuple[tuple[str, ...], _Gauged]] | None = None
    ) -> Metric:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in tuple(self.children.items()) if children is None else children:
            family.add_metric(key, child.value)
        return family


class _PlainHistogram(_PlainFamily[Buckets]):
    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> None:
        super().__init__(name, documentation, labelnames)
        bounds = [float(bound) for bound in buckets]
        if bounds != sorted(bounds):
            raise ValueError("Buckets not in sorted order")
        self.bounds = tuple(bound for bound in bounds if bound != INF)
        self.les: tuple[str, ...] = tuple(
            floatToGoString(bound)  # type: ignore[no-untyped-call]
            for bound in (*self.bounds, INF)
        )

    def _child(self) -> Buckets:
        return Buckets(self.bounds)

    def metric(
        self, created: bool, children: Iterable[tuple[tuple[str, ...], Buckets]] | None = None
    ) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in tuple(self.children.items()) if children is None else children:
            total = 0.0
            cumulative = []
            for le, count in zip(self.les, child.counts, strict=True):
                total += count
                cumulative.append((le, total))
            family.add_metric(key, cumulative, child.sum)
            if created:  # as Histogram's own (HistogramMetricFamily has no created=)
                labels = dict(zip(self.labelnames, key, strict=True))
                family.samples.append(Sample(f"{self.name}_created", labels, child.created))
        return family


def _created_shown() -> bool:
    """Whether prometheus_client shows ``_created`` samples now (``disable_created_metrics``,
    ``PROMETHEUS_DISABLE_CREATED_SERIES``), asked of a counter of its own in no registry
    (one process only: in multiprocess mode it would write to the shared files)."""
    probe = Counter("jbtrio_probe", "", registry=None)
    return any(s.name.endswith("_created") for metric in probe.collect() for s in metric.samples)


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


def _counter(make: _Families, name: str, documentation: str) -> _Labelled[_Count]:
    return make.counter(f"jbtrio_{name}", documentation)


def multiprocess_exposition() -> tuple[bytes, str]:
    """The page of every process writing to ``PROMETHEUS_MULTIPROC_DIR`` (the acceptor's
    ``/metrics`` with ``--workers``)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(ReadingsCollector())  # the acceptor's own (a cluster's relays)
    return generate_latest(registry), CONTENT_TYPE_LATEST
