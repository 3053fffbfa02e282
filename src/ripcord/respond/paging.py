"""Pages and updates: the message built from the incident's record, then queued.

`page` renders the message on the caller's thread (the facts are read from the store and
the routing table as they are now) and hands it to the runtime's outbox
(`notify/outbox.py`), which sends it on its own thread: a channel retrying a dead receiver
delays neither containment nor a guarded model call. When the channels are done, `_record`
(on the outbox's thread, in its own transaction) writes one Delivery row per channel and
tells the `on_delivery` observers; a channel's final failure is also a dead letter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from ripcord.incidents import lifecycle
from ripcord.incidents.oncall import who_is_on_call
from ripcord.notify.base import MessageKind, Notification
from ripcord.notify.messages import IncidentFacts, render
from ripcord.respond.breaker import BreakerState
from ripcord.sop.severity import Severity
from ripcord.store.tables import Delivery, EventRow, Incident

if TYPE_CHECKING:
    from ripcord.app import Ripcord
    from ripcord.notify.notifier import Delivery as Attempt


def page(
    app: Ripcord,
    incident: Incident,
    kind: MessageKind,
    title: str,
    *,
    to: tuple[str, ...] | None = None,
    team: str | None = None,
    sent: Callable[[], None] | None = None,
) -> None:
    """Queue a message to `to` (default: the owner's on-call primary) through `team`'s
    channels. `sent` runs on the outbox's thread after the last recipient's message."""
    team_name = team or incident.owner or app.sop.models[incident.model].owner
    spec = app.sop.teams.get(team_name)
    on_call = who_is_on_call(spec, app.clock.now())[0] if spec else team_name
    recipients = list(to) if to else [on_call]
    channels = list(spec.channels) if spec else list(app.sop.channels)
    title, body = render(kind, facts(app, incident, title, kind), app.templates)
    for n, person in enumerate(recipients, start=1):
        message = Notification(
            kind=kind,
            incident_id=incident.id,
            model=incident.model,
            severity=Severity(incident.severity).label,
            title=title,
            body=body,
            recipient=person,
            team=team_name,
            at=app.clock.now(),
            ack_by=incident.ack_by,
            details={"status": incident.status, "type": incident.incident_type},
        )
        then = sent if n == len(recipients) else None
        app.outbox.submit(message, channels, functools.partial(_record, app, then=then))


def _record(
    app: Ripcord,
    message: Notification,
    deliveries: list[Attempt],
    *,
    then: Callable[[], None] | None,
) -> None:
    """How each channel took `message`, stored and observed (on the outbox's thread)."""
    with app.db.session() as session:
        session.add_all(
            Delivery(
                incident_id=message.incident_id,
                channel=d.channel,
                recipient=message.recipient,
                kind=message.kind.value,
                ok=d.ok,
                at=message.at,
                detail=d.error or f"{d.attempts} attempt(s)",
            )
            for d in deliveries
        )
    for d in deliveries:
        app.observe(app.on_delivery, d)
    if then is not None:
        then()


def facts(app: Ripcord, incident: Incident, headline: str, kind: MessageKind) -> IncidentFacts:
    """The incident in business terms, from the record: requests affected since the
    fault began, what answers now, status, and when the next update is due."""
    app.store_held()
    with app.db.session() as session:
        affected = (
            session.scalar(
                select(func.count(EventRow.id)).where(
                    EventRow.model == incident.model,
                    EventRow.kind == "inference",
                    EventRow.version == incident.version,
                    EventRow.at >= incident.started_at,
                )
            )
            or 0
        )
        users = (
            session.scalar(
                select(func.count(func.distinct(EventRow.request_id))).where(
                    EventRow.model == incident.model,
                    EventRow.kind == "feedback",
                    EventRow.at >= incident.started_at,
                )
            )
            or None
        )
        current = session.get(Incident, incident.id) or incident
    state = app.routes.state(incident.model)
    serving = "the fallback" if state.breaker is BreakerState.OPEN else f"version {state.serving}"
    now = app.clock.now()
    return IncidentFacts(
        incident_id=incident.id,
        model=incident.model,
        severity=Severity(incident.severity).label,
        status=current.status,
        headline=headline,
        started_at=incident.started_at,
        at=now,
        requests_affected=affected,
        users_affected=users,
        decisions=app.sop.models[incident.model].decisions,
        serving=serving,
        segment=incident.segment,
        owner=incident.owner or "",
        version=incident.version,
        ack_by=current.ack_by if current.acknowledged_at is None else None,
        next_update=None
        if kind is MessageKind.RESOLVED
        else _next_update(now, Severity(incident.severity)),
        resolution=headline if kind is MessageKind.RESOLVED else "",
    )


#: how often an active incident's people hear from it: the "next update by" a message promises
UPDATE_EVERY = {
    Severity.SEV1: timedelta(minutes=15),
    Severity.SEV2: timedelta(minutes=30),
    Severity.SEV3: timedelta(hours=2),
    Severity.SEV4: timedelta(days=1),
}


def _next_update(now: datetime, severity: Severity) -> datetime:
    return now + UPDATE_EVERY[severity]


def send_due_updates(app: Ripcord, in_flight: set[int]) -> list[int]:
    """Keep the promise of "next update by": every active incident whose last page or
    update (its newest Delivery row of either kind) is older than its severity's interval
    gets a scheduled update with the status now. `in_flight` holds the incidents whose
    update is queued, so the next sweep does not send it again; its Delivery rows, written
    once sent, set the next due time. The ids updated are returned."""
    now = app.clock.now()
    last = func.max(Delivery.at)
    query = (
        select(Incident, last)
        .join(Delivery, Delivery.incident_id == Incident.id)
        .where(
            Incident.status.in_([s.value for s in lifecycle.ACTIVE]),
            Delivery.kind.in_((MessageKind.PAGE.value, MessageKind.UPDATE.value)),
        )
        .group_by(Incident.id)
    )
    with app.db.session() as session:
        rows = session.execute(query).all()
    due = [
        incident
        for incident, at in rows
        if incident.id not in in_flight and now >= at + UPDATE_EVERY[Severity(incident.severity)]
    ]
    for incident in due:
        in_flight.add(incident.id)
        done = functools.partial(in_flight.discard, incident.id)
        page(app, incident, MessageKind.UPDATE, "scheduled update", sent=done)
    return [incident.id for incident in due]
