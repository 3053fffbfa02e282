"""Prometheus metrics from a registry the app owns (made in `create_app`, never global).

Counters come from the API (events ingested) and from the runtime's observers (signals,
notification deliveries); the state of the store (open incidents, actions by status and how
long finished ones took) is read from the database when Prometheus scrapes, so it is right
after a restart and needs no bookkeeping.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterable, Iterator

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from ripcord.api.deps import State, Viewer
from ripcord.app import Ripcord
from ripcord.detect.base import Signal
from ripcord.incidents import lifecycle
from ripcord.notify import Delivery
from ripcord.respond.rollback import Step
from ripcord.sop.severity import Severity
from ripcord.store.tables import Action, Incident

router = APIRouter(tags=["metrics"])
DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The app's counters and histograms, registered on `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.events = Counter(
            "ripcord_events_ingested",
            "Events accepted through the API.",
            ["kind", "model"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "ripcord_ingest_batch_duration_seconds",
            "Time to store and run detection on one accepted batch, waiting included.",
            registry=registry,
        )
        self.refused = Counter(
            "ripcord_ingest_refused_batches",
            "Batches answered 429 because the ingestion queue was full; nothing was stored.",
            registry=registry,
        )
        self.signals = Counter(
            "ripcord_signals",
            "Signals raised by detectors.",
            ["model", "detector", "family"],
            registry=registry,
        )
        self.notifications = Counter(
            "ripcord_notifications",
            "Notification deliveries by channel and outcome.",
            ["channel", "ok"],
            registry=registry,
        )
        self.alerts = Counter(
            "ripcord_alertmanager_alerts",
            "Alerts received from Alertmanager, by outcome: new, repeated, resolved, ignored.",
            ["outcome"],
            registry=registry,
        )
        self.notification_seconds = Histogram(
            "ripcord_notification_duration_seconds",
            "Time a channel took to deliver (retries included) or give up.",
            ["channel"],
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )

    def attach(self, rc: Ripcord, lock: threading.Lock) -> None:
        """Observe `rc`'s signals and deliveries; read its store and its outbox at scrape
        time (the outbox's count needs no lock: a dead channel must not hide it)."""
        rc.on_signal.append(self.signal)
        rc.on_delivery.append(self.delivery)
        queued = Gauge(
            "ripcord_notifications_queued",
            "Notifications waiting in the outbox or being sent (notify/outbox.py).",
            registry=self.registry,
        )
        queued.set_function(lambda: rc.outbox.pending)
        self.registry.register(StoreCollector(rc, lock))

    def counted(self, events: Iterable[tuple[str, str]]) -> None:
        for (kind, model), n in Tally(events).items():
            self.events.labels(kind, model).inc(n)

    def signal(self, signal: Signal) -> None:
        self.signals.labels(signal.model, signal.detector, signal.family).inc()

    def delivery(self, delivery: Delivery) -> None:
        self.notifications.labels(delivery.channel, str(delivery.ok).lower()).inc()
        self.notification_seconds.labels(delivery.channel).observe(delivery.duration_ms / 1000)


class StoreCollector(Collector):
    """Gauges read from the database on each scrape (under the app's runtime lock)."""

    def __init__(self, rc: Ripcord, lock: threading.Lock) -> None:
        self.rc = rc
        self.lock = lock

    def describe(self) -> Iterator[Metric]:
        # Named here so registering does not query the database.
        yield GaugeMetricFamily("ripcord_open_incidents", "", labels=["severity"])
        yield GaugeMetricFamily("ripcord_actions", "", labels=["kind", "status"])
        yield SummaryMetricFamily("ripcord_action_duration_seconds", "", labels=["kind", "status"])

    def collect(self) -> Iterator[Metric]:
        with self.lock, self.rc.db.session() as session:
            active = [s.value for s in lifecycle.ACTIVE]
            open_rows = session.execute(
                select(Incident.severity, func.count())
                .where(Incident.status.in_(active))
                .group_by(Incident.severity)
            ).all()
            by_status = select(Action.kind, Action.status, func.count())
            action_rows = session.execute(by_status.group_by(Action.kind, Action.status)).all()
            final = [s.value for s in Step if s.final]
            spans = session.execute(
                select(Action.kind, Action.status, Action.created_at, Action.updated_at).where(
                    Action.status.in_(final)
                )
            ).all()
        yield _open_incidents({int(sev): int(n) for sev, n in open_rows})
        actions = GaugeMetricFamily(
            "ripcord_actions", "Response actions by kind and status.", labels=["kind", "status"]
        )
        for kind, status, n in action_rows:
            actions.add_metric([kind, status], int(n))
        yield actions
        yield _durations([(k, s, (end - start).total_seconds()) for k, s, start, end in spans])


def _open_incidents(counts: dict[int, int]) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(
        "ripcord_open_incidents", "Incidents not yet resolved, by severity.", labels=["severity"]
    )
    for sev in sorted(Severity, reverse=True):
        gauge.add_metric([sev.label], counts.get(int(sev), 0))
    return gauge


def _durations(spans: list[tuple[str, str, float]]) -> SummaryMetricFamily:
    summary = SummaryMetricFamily(
        "ripcord_action_duration_seconds",
        "From proposal to outcome, for finished actions.",
        labels=["kind", "status"],
    )
    totals: dict[tuple[str, str], list[float]] = {}
    for kind, status, seconds in spans:
        totals.setdefault((kind, status), []).append(seconds)
    for (kind, status), values in sorted(totals.items()):
        summary.add_metric([kind, status], count_value=len(values), sum_value=sum(values))
    return summary


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def metrics(state: State, who: Viewer) -> Response:
    """Prometheus text exposition of the app's registry (needs a viewer token, which a
    Prometheus scrape job sends with `authorization: {credentials: ...}`)."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
