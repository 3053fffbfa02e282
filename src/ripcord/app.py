"""The runtime: one object that wires the SOP, the store, detection and the response.

`Ripcord.open(sop_path)` is the app factory: it builds the registries and passes them down
(no import-time globals). Data flows one way: events → detectors → signals → triage →
incident → actions → notifications.

Observers (`on_signal`, `on_delivery`) let a host count what happens inside without this
module knowing about it (the service feeds Prometheus from them). A failing observer is
logged and ignored: metrics must never stop the response.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ripcord.clock import Clock, SystemClock
from ripcord.detect import default_registry
from ripcord.detect.base import DetectorRegistry, Signal
from ripcord.detect.engine import DetectionEngine
from ripcord.errors import NotFoundError
from ripcord.events import (
    ChangeEvent,
    ChangeKind,
    Event,
    FeedbackEvent,
    InferenceEvent,
    LabelEvent,
    parse_events,
)
from ripcord.notify import Delivery, Notifier, build_channels, deadletter
from ripcord.notify.base import Channel
from ripcord.notify.messages import MessageTemplates
from ripcord.notify.outbox import Outbox
from ripcord.registry import build_registry
from ripcord.registry.artifacts import ArtifactStore
from ripcord.respond import canary
from ripcord.respond.breaker import BreakerState
from ripcord.respond.decisions import Decisions
from ripcord.respond.responder import Responder
from ripcord.respond.rollback import Rollback, Step
from ripcord.respond.routing import RoutingTable
from ripcord.respond.runner import RollbackRunner
from ripcord.respond.targets import TargetVersions
from ripcord.respond.verification import Verifier
from ripcord.sdk import Guard
from ripcord.sop import load as sop_load
from ripcord.sop.schema import Sop
from ripcord.store.db import Database, default_url
from ripcord.store.events import event_row, insert_rows
from ripcord.store.tables import Action

log = logging.getLogger(__name__)
#: seconds of clock time between two sweeps for overdue escalations and canary verdicts
HOUSEKEEPING_S = 1.0
#: how long `flush` waits for queued notifications (a dead channel retries for ~2 minutes)
DRAIN_S = 300.0


class Ripcord:
    def __init__(
        self,
        sop: Sop,
        db: Database,
        *,
        sop_dir: Path,
        home: Path,
        clock: Clock | None = None,
        detectors: DetectorRegistry | None = None,
        channels: Mapping[str, Channel] | None = None,
        flush_every: int = 256,
        send_inline: bool = False,
    ) -> None:
        self.sop = sop
        self.db = db
        self.clock = clock or SystemClock()
        self.detectors = detectors or default_registry()
        self.policy = sop_load.policy(sop)
        self.engine = DetectionEngine(sop, self.detectors)
        self.registry = build_registry(sop.registry, home / "artifacts", now=self.clock.now)
        self.routes = RoutingTable()
        self.artifacts = ArtifactStore()
        self.rollback = Rollback(
            sop, sop_dir, self.registry, self.routes, self.clock.now, self.artifacts
        )
        self.notifier = Notifier(
            channels if channels is not None else build_channels(sop.channels, people=sop.people),
            on_dead_letter=deadletter.recorder(db, self.clock),
        )
        # pages leave the response's path (`send_inline`: tests that read a channel at once)
        self.outbox = Outbox(lambda: self.notifier, inline=send_inline)
        self.templates = MessageTemplates.from_spec(sop.templates, base=sop_dir)
        self.runner = RollbackRunner(self.rollback, db)  # a step per commit, retried
        self.verifier = Verifier(self)
        self.targets = TargetVersions(self)  # config and dataset versions: record, activate
        self.flush_every = flush_every
        self._pending: list[dict[str, Any]] = []
        self._swept = datetime.min.replace(tzinfo=UTC)  # the last `_housekeeping`
        self.on_signal: list[Callable[[Signal], None]] = []
        self.on_delivery: list[Callable[[Delivery], None]] = []
        with db.session() as session:
            self.routes.load(session)
        self.responder = Responder(self)
        self.decisions = Decisions(db, self.rollback, self.runner, self.responder)
        self._guards: weakref.WeakSet[Guard] = weakref.WeakSet()  # drained by `flush`
        self.responder.resume()

    @classmethod
    def open(
        cls,
        sop_path: Path,
        *,
        url: str | None = None,
        home: Path | None = None,
        clock: Clock | None = None,
        channels: Mapping[str, Channel] | None = None,
        send_inline: bool = False,
    ) -> Ripcord:
        detectors = default_registry()
        sop = sop_load.load(sop_path, detectors)
        home = home or Path.cwd()
        db = Database.open(url or default_url(home))
        return cls(
            sop,
            db,
            sop_dir=sop_path.parent,
            home=home / ".ripcord",
            clock=clock,
            detectors=detectors,
            channels=channels,
            send_inline=send_inline,
        )

    def model(self, name: str) -> None:
        if name not in self.sop.models:
            raise NotFoundError("model", name)

    # -- versions and deploys -------------------------------------------------------------
    def register(
        self,
        model: str,
        version: str,
        predictor: Any,
        *,
        actor: str,
        parent: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.model(model)
        with self.db.session() as session:
            self.registry.register(
                session,
                model=model,
                version=version,
                predictor=predictor,
                at=self.clock.now(),
                actor=actor,
                parent=parent,
                meta=meta,
            )

    def deploy(self, model: str, version: str, *, actor: str, reason: str = "") -> None:
        """Serve `version`, record the change, and verify it over a window of live events."""
        self.model(model)
        at = self.clock.now()
        with self.db.session() as session:
            self.registry.record_deployment(
                session, model=model, version=version, at=at, actor=actor, reason=reason
            )
            self.routes.apply(
                session,
                model,
                at=at,
                actor=actor,
                reason=reason or "deploy",
                serving=version,
                breaker=BreakerState.CLOSED,
            )
        self.ingest(
            ChangeEvent(
                model=model,
                timestamp=at,
                change=ChangeKind.DEPLOY,
                version=version,
                actor=actor,
                description=reason,
            )
        )
        self.verifier.start_deploy(model, version)

    # -- ingestion ------------------------------------------------------------------------
    def ingest(self, event: Event) -> list[Signal]:
        """Store an event and run detection on it; signals are handled before returning."""
        self.model(event.model)
        self._drain_guards_before((event,))
        self._pending.append(event_row(event))
        return self._detect(event)

    def _drain_guards_before(self, events: Sequence[Event]) -> None:
        """Labels and feedback join their prediction by request id: what batching guards
        still hold is detected and stored first."""
        if self._guards and any(isinstance(e, LabelEvent | FeedbackEvent) for e in events):
            for guard in list(self._guards):
                guard.flush()

    def _detect(self, event: Event) -> list[Signal]:
        """Detection on one event (already stored or buffered); signals handled at once."""
        if isinstance(event, InferenceEvent):
            signals = self.engine.observe(event)
            self.verifier.count(event, signals)
        elif isinstance(event, LabelEvent):
            signals = self.engine.observe_label(event)
        elif isinstance(event, FeedbackEvent):
            signals = self.engine.observe_feedback(event)
        else:
            signals = []
        return self._handle(signals)

    def _handle(self, signals: list[Signal]) -> list[Signal]:
        """Signals are handled at once: stored events first, then triage and containment."""
        if signals or len(self._pending) >= self.flush_every:
            self._store_pending()
            self._housekeeping(force=bool(signals))
        for signal in signals:
            self.observe(self.on_signal, signal)
            self.responder.handle(signal)
        return signals

    def tick(self) -> list[Signal]:
        """The service's timer (about once a second, `ripcord serve`): the silence of the
        serving versions (a throughput that stopped dead raises no event to be checked on),
        then the escalations and scheduled updates that fell due."""
        serving = [(m, v) for m in self.sop.models if (v := self.routes.state(m).serving)]
        signals = self._handle(self.engine.tick(self.clock.now(), serving))
        self.responder.escalate_overdue()
        self.responder.send_due_updates()
        return signals

    def label(self, model: str, request_id: str, label: Any) -> list[Signal]:
        """The true outcome of a served request, sent later by its request id."""
        self.model(model)
        return self.ingest(
            LabelEvent(model=model, request_id=request_id, label=label, timestamp=self.clock.now())
        )

    def feedback(
        self, model: str, request_id: str | None, score: float, *, source: str = "unknown"
    ) -> list[Signal]:
        """User feedback (-1 thumbs-down … +1 thumbs-up), by request id when known."""
        self.model(model)
        return self.ingest(
            FeedbackEvent(
                model=model,
                request_id=request_id,
                score=score,
                source=source,
                timestamp=self.clock.now(),
            )
        )

    def ingest_many(self, events: Sequence[Event]) -> list[Signal]:
        return [s for e in events for s in self.ingest(e)]

    def ingest_batch(self, items: Sequence[Mapping[str, Any]]) -> list[Signal]:
        """Raw events (e.g. JSON): the batch is checked whole first, every bad item and
        unknown model named, so a bad batch stores nothing; a good one is stored whole
        (`ingest_stored`)."""
        return self.ingest_stored(self.parse_batch(items))

    def ingest_stored(self, events: Sequence[Event]) -> list[Signal]:
        """Store `events` in one transaction, then run detection on each in order.

        When this returns, every event is committed (an API answer means stored), and a
        crash before the commit leaves none of them: never half a batch, which a client's
        retry would double. Signals are handled after the events that raised them are on
        disk, as with `ingest`."""
        for event in events:
            self.model(event.model)
        self._drain_guards_before(events)
        self._store_pending()
        with self.db.session() as session:
            insert_rows(session, [event_row(e) for e in events])
        self._housekeeping()
        signals: list[Signal] = []
        for run in self._runs(events):
            if isinstance(run, list):  # inference events no verification is counting
                signals += self._handle(self.engine.observe_batch(run))
            else:
                signals += self._detect(run)
        return signals

    def _runs(self, events: Sequence[Event]) -> Iterator[Event | list[InferenceEvent]]:
        """The events in order, consecutive inference events of models with no verification
        window open gathered into lists for the engine's batch path (the same signals as
        one by one); the rest one at a time, for the verifier to count."""
        run: list[InferenceEvent] = []
        for event in events:
            if isinstance(event, InferenceEvent) and event.model not in self.verifier.active:
                run.append(event)
                continue
            if run:
                yield run
                run = []
            yield event
        if run:
            yield run

    def _housekeeping(self, *, force: bool = False) -> None:
        """Overdue escalations and canary reviews, at most once a second of clock time as
        traffic flows (ack deadlines are minutes; a review needs hundreds of answers), so a
        stream of batches does not query for them on every one; at once with `force`."""
        now = self.clock.now()
        if not force and (now - self._swept).total_seconds() < HOUSEKEEPING_S:
            return
        self._swept = now
        self.responder.escalate_overdue()
        self.responder.send_due_updates()
        canary.review_all(self)

    def parse_batch(self, items: Sequence[Mapping[str, Any]]) -> list[Event]:
        """Validate raw events whole: EventError naming every bad item and field, and every
        model the SOP file does not know. Reads only the SOP: safe beside ingestion."""
        return parse_events(items, self.sop.models)

    def flush(self, timeout: float = DRAIN_S) -> None:
        """`store_held`, then wait up to `timeout` s for the queued notifications to be
        sent and recorded: at a quiet point only (a test, a drill), never on the response's
        path, where a dead channel would hold the runtime."""
        self.store_held()
        if not self.outbox.drain(timeout):
            log.warning("notifications still queued after %.0f s", timeout)

    def store_held(self) -> None:
        """Store everything still held: the calls batching guards keep (detected on the
        way, see `Guard`), then the rows of events ingested one by one."""
        for guard in list(self._guards):
            guard.flush()
        self._store_pending()

    def _store_pending(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        with self.db.session() as session:
            insert_rows(session, rows)

    def trip(self, model: str, *, reason: str, actor: str = "ripcord") -> None:
        """Open the circuit breaker: traffic to the fallback until a rollback or a reset."""
        with self.db.session() as session:
            self.routes.apply(
                session,
                model,
                at=self.clock.now(),
                actor=actor,
                reason=reason,
                breaker=BreakerState.OPEN,
            )

    # -- a person's decisions on a rollback (respond/decisions.py) -----------------------
    def approve(self, action_id: int, *, actor: str) -> Step:
        return self.decisions.approve(action_id, actor=actor)

    def reject(self, action_id: int, *, actor: str, reason: str) -> Step:
        return self.decisions.reject(action_id, actor=actor, reason=reason)

    def propose_rollback(self, incident_id: int, *, actor: str) -> Action:
        return self.decisions.propose(incident_id, actor=actor)

    def pending_approvals(self) -> list[Action]:
        return self.decisions.pending()

    def guard(
        self,
        model: str,
        *,
        predict: Callable[..., Any] | None = None,
        fallback: Callable[..., Any] | None = None,
        version: str | None = None,
        batch: int = 1,
        batch_s: float = 0.05,
    ) -> Guard:
        """A guard for `model` (see `Guard`); one that batches its records (`batch` over 1)
        is drained by `flush`, `close` and the ingestion of labels and feedback."""
        self.model(model)
        guard = Guard(
            self, model, predict=predict, fallback=fallback, version=version,
            batch=batch, batch_s=batch_s,
        )  # fmt: skip
        if batch > 1:
            self._guards.add(guard)
        return guard

    @staticmethod
    def observe(observers: Sequence[Callable[[Any], None]], item: object) -> None:
        for observer in observers:
            try:
                observer(item)
            except Exception:  # an observer (metrics) must never stop the response
                log.exception("observer failed", extra={"observer": repr(observer)})

    def close(self) -> None:
        """Store what is held, send what is queued (`Outbox.close`), release the database."""
        self.store_held()
        self.outbox.close()
        self.db.dispose()
