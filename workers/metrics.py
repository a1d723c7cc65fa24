"""Prometheus metrics: what a process observes, and what the store says at scrape time.

Each process has its own registry (never prometheus_client's global one):

- observed where it happens: stage durations by stage and outcome (the runtime), and
  ServiceNow calls and errors by method, path template and status (the client's
  observer);
- read from the store when scraped: jobs by state, time waited for CAs (from the
  ``waiting_for_ca`` event to the one that ended the wait), and each succeeded job's
  client certificate ``notAfter``.

A worker process exposes its registry on ``twoway worker --metrics-port``, together with
dramatiq's own Prometheus middleware; the gateway serves ``GET /metrics``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from messages import JobState, Stage
from workers.servicenow import CallRecord
from workers.store.certificates import DAYS_LEFT_BUCKETS, FAR_BUCKET
from workers.store.stats import WAIT_ENDS

if TYPE_CHECKING:
    from workers.store import Store

__all__ = [
    "SLOT_WAIT_BUCKETS",
    "STAGE_BUCKETS",
    "WAIT_BUCKETS",
    "WRITE_WAIT_BUCKETS",
    "Metrics",
    "SlotCollector",
    "StoreCollector",
    "observing",
]

WRITE_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30)
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
SLOT_WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30)
WAIT_BUCKETS = (60, 300, 900, 3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400, 14 * 86400)


def _le(bound: float) -> str:
    """A bucket bound as Prometheus writes it (60 -> "60.0", 1209600 -> "1.2096e+06")."""
    as_go: Callable[[float], str] = floatToGoString
    return as_go(bound)


def observing(*observers: Callable[[CallRecord], None]) -> Callable[[CallRecord], None]:
    """One ServiceNow client observer that hands each call record to all of ``observers``."""

    def observe(record: CallRecord) -> None:
        for observer in observers:
            observer(record)

    return observe


class Metrics:
    """One process's metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.stage_duration = Histogram(
            "twoway_stage_duration_seconds",
            "Time one message spent in a stage, by outcome"
            " (completed, paused, retried, failed, dropped).",
            ["stage", "outcome"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.servicenow_calls = Counter(
            "twoway_servicenow_calls",
            "HTTP calls to ServiceNow instances, by method, path template and status"
            " ('none': no answer).",
            ["method", "path", "status"],
            registry=self.registry,
        )
        self.servicenow_errors = Counter(
            "twoway_servicenow_errors",
            "ServiceNow calls that failed, by status and what followed (retry, wait, error).",
            ["method", "path", "status", "outcome"],
            registry=self.registry,
        )
        self.store_write_wait = Histogram(
            "twoway_store_write_wait_seconds",
            "Time a write to the store waited to begin: for its process's turn and the"
            " database's write lock (SQLite), or a pooled connection (PostgreSQL).",
            buckets=WRITE_WAIT_BUCKETS,
            registry=self.registry,
        )
        self.callback_refusals = Counter(
            "twoway_callback_refusals",
            "CA callbacks refused, by HTTP status (401, 403 and 429 write nothing to the job).",
            ["status"],
            registry=self.registry,
        )
        self._instance_metrics()
        self._watched: set[int] = set()
        self._lock = threading.Lock()

    def _instance_metrics(self) -> None:
        """The queue in front of each instance's call slots, as this process sees it."""
        self.instance_slot_waiters = Gauge(
            "twoway_instance_slot_waiters",
            "Calls of this process waiting for a free call slot of the instance.",
            ["instance"],
            registry=self.registry,
        )
        self.instance_slot_wait = Histogram(
            "twoway_instance_slot_wait_seconds",
            "Time a call waited for one of its instance's call slots.",
            ["instance"],
            buckets=SLOT_WAIT_BUCKETS,
            registry=self.registry,
        )
        self.instance_busy = Counter(
            "twoway_instance_busy",
            "Stage runs given back to the broker because every call slot of the instance"
            " stayed taken for slot_wait_s (not failures: they run again shortly).",
            ["instance"],
            registry=self.registry,
        )

    def observe_stage(self, stage: Stage, outcome: str, seconds: float) -> None:
        self.stage_duration.labels(stage.value, outcome).observe(seconds)

    def observe_call(self, record: CallRecord) -> None:
        status = str(record.status) if record.status is not None else "none"
        self.servicenow_calls.labels(record.method, record.path_template, status).inc()
        if record.outcome != "ok":
            labels = (record.method, record.path_template, status, record.outcome)
            self.servicenow_errors.labels(*labels).inc()

    def watch(self, collector: Collector) -> None:
        """Add a collector read at scrape time (once per collector object)."""
        with self._lock:
            if id(collector) not in self._watched:
                self._watched.add(id(collector))
                self.registry.register(collector)


class StoreCollector(Collector):
    """Jobs by state, waits for CAs and certificates' notAfter, read from the store."""

    def __init__(self, store: Store, *, per_certificate: bool = False) -> None:
        self.store = store
        self.per_certificate = per_certificate
        self._lock = threading.Lock()
        self._after = 0  # the last event id tallied
        self._open: dict[str, datetime] = {}  # job id -> when its wait began
        self._finished: dict[str, tuple[list[int], float]] = {}  # per bucket, and the sum
        self._beyond: dict[str, int] = {}  # finished waits longer than the last bucket

    def describe(self) -> Iterable[Metric]:
        return []  # read at scrape time only: nothing is collected at registration

    def collect(self) -> Iterator[Metric]:
        yield from self._jobs()
        yield from self._waits()
        yield from self._certificates()

    def _jobs(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "twoway_jobs",
            "Jobs in the store, by state (the planner's estimates on PostgreSQL past"
            " 50,000 jobs: twoway_jobs_estimated says when).",
            labels=["state"],
        )
        counts, estimated = self.store.count_jobs_cheaply()
        for state in JobState:
            gauge.add_metric([state.value], counts.get(state.value, 0))
        yield gauge
        yield GaugeMetricFamily(
            "twoway_jobs_estimated",
            "1 when twoway_jobs are the planner's estimates, 0 when they are counted.",
            value=int(estimated),
        )

    def _waits(self) -> Iterator[Metric]:
        """Finished waits, tallied as their events are appended (each scrape reads only
        the events since the last one), and the longest wait still open."""
        with self._lock:
            events, self._after = self.store.stats.ca_wait_events(self._after)
            for job_id, kind, at in events:
                if kind == "waiting_for_ca":
                    self._open[job_id] = at
                elif job_id in self._open:
                    self._finish(WAIT_ENDS[kind], (at - self._open.pop(job_id)).total_seconds())
            histogram = HistogramMetricFamily(
                "twoway_ca_wait_seconds",
                "Finished waits for a CA (waiting_for_ca until resumed, rejected or expired).",
                labels=["outcome"],
            )
            for outcome in ("resumed", "rejected", "expired"):
                counts, total = self._finished.get(outcome, ([0] * len(WAIT_BUCKETS), 0.0))
                seen = sum(counts) + self._beyond.get(outcome, 0)
                buckets = [(_le(b), sum(counts[: i + 1])) for i, b in enumerate(WAIT_BUCKETS)]
                histogram.add_metric([outcome], [*buckets, ("+Inf", seen)], total)
            started = min(self._open.values(), default=None)
        yield histogram
        longest = (datetime.now(UTC) - started).total_seconds() if started else 0.0
        yield GaugeMetricFamily(
            "twoway_ca_wait_longest_open_seconds",
            "How long the job waiting longest for its CA has waited (0: none waits).",
            value=max(longest, 0.0),
        )

    def _finish(self, outcome: str, seconds: float) -> None:
        counts, total = self._finished.setdefault(outcome, ([0] * len(WAIT_BUCKETS), 0.0))
        for index, bound in enumerate(WAIT_BUCKETS):
            if seconds <= bound:
                counts[index] += 1
                break
        else:
            self._beyond[outcome] = self._beyond.get(outcome, 0) + 1
        self._finished[outcome] = (counts, total + seconds)

    def _certificates(self) -> Iterator[Metric]:
        """Expiry by instance and days-left bucket, and each instance's soonest notAfter,
        from the inventory's stored columns (nothing is parsed on a scrape): a few series
        per instance, however many jobs are stored."""
        now = datetime.now(UTC)
        summary = self.store.certificates.expiry_summary(now)
        counts = GaugeMetricFamily(
            "twoway_certificates",
            "Certificates twoway manages (not replaced), by instance and days left until"
            " notAfter: expired, up to 7, 14, 30, 60, 90, more.",
            labels=["instance", "days_left"],
        )
        buckets = [label for label, _ in DAYS_LEFT_BUCKETS] + [FAR_BUCKET]
        for instance in sorted({i for i, _ in summary.counts}):
            for bucket in buckets:
                counts.add_metric([instance, bucket], summary.counts.get((instance, bucket), 0))
        yield counts
        due = GaugeMetricFamily(
            "twoway_certificates_due",
            "Certificates past their renewal point and not replaced yet, by instance.",
            labels=["instance"],
        )
        soonest = GaugeMetricFamily(
            "twoway_certificate_soonest_not_after_timestamp_seconds",
            "The soonest notAfter among each instance's certificates, as a Unix time.",
            labels=["instance"],
        )
        for instance, when in sorted(summary.soonest.items()):
            due.add_metric([instance], summary.due.get(instance, 0))
            soonest.add_metric([instance], when.timestamp())
        yield due
        yield soonest
        if self.per_certificate:
            yield self._each_certificate()

    def _each_certificate(self) -> Metric:
        gauge = GaugeMetricFamily(
            "twoway_certificate_not_after_timestamp_seconds",
            "notAfter of each current client certificate, as a Unix time (one series per"
            " certificate: [metrics] per_certificate_series in pipeline.toml).",
            labels=["job_id", "instance", "target", "serial"],
        )
        for row in self.store.certificates.current():
            labels = [row.job_id, row.instance, row.target, row.serial]
            gauge.add_metric(labels, row.not_after.timestamp())
        return gauge


class SlotCollector(Collector):
    """Each instance's call limit and the slots held now across every worker (the store)."""

    def __init__(self, store: Store, limits: dict[str, int]) -> None:
        self.store = store
        self.limits = limits

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        limit = GaugeMetricFamily(
            "twoway_instance_max_concurrent_calls",
            "Each instance profile's max_concurrent_calls (pipeline.toml).",
            labels=["instance"],
        )
        used = GaugeMetricFamily(
            "twoway_instance_calls_in_flight",
            "Call slots of the instance held now, by every worker process and host.",
            labels=["instance"],
        )
        held = self.store.slots.in_use()
        for name, value in sorted(self.limits.items()):
            limit.add_metric([name], value)
            used.add_metric([name], held.get(name, 0))
        yield limit
        yield used
