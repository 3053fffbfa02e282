"""Escalation timers: an unacknowledged incident climbs its ladder until someone takes it.

The ladder (`ripcord.incidents.oncall.ladder`) is the owner's on-call primary (paged when
the incident opens), its backup, then the SOP's `escalation.chain` for the incident type.
Each level waits the severity's ack minutes; the last level is paged again every
`escalation.repeat_minutes` (left out: the ack minutes; 0: never). Who is on call is read
when the level is reached, so a handover or an override in between is honoured.

The timer lives on the incident row: `ack_by` (when the next level is due),
`escalation_level` (escalation pages decided) and `escalation_paged` (how many the
channels were done with). A level is decided in one transaction with its timeline entry
and audit row, then queued (`notify/outbox.py`), then marked paged once sent:

- a restart (or a second replica) finds the decided level in the row and does not decide
  it again: no page is repeated;
- a crash between the decision and the page (the page still in the outbox's memory)
  leaves `escalation_paged` behind; `flush` sends that page when Ripcord starts again:
  no page is lost. (A crash in the instant
  between sending and marking it sent repeats that one page: delivery is at least once.)
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ripcord.incidents import lifecycle, service
from ripcord.incidents.lifecycle import Status
from ripcord.incidents.oncall import ladder
from ripcord.notify.base import MessageKind
from ripcord.sop.severity import Severity
from ripcord.store.tables import Incident, TimelineEntry

if TYPE_CHECKING:
    from ripcord.app import Ripcord

log = logging.getLogger(__name__)

#: a page decided this long ago and still not sent was orphaned by a crash; younger ones
#: may be in flight in another replica (channels retry for a few seconds)
PENDING_GRACE = timedelta(minutes=2)


@dataclass(frozen=True)
class Due:
    """An escalation page decided and stored, to be sent."""

    incident_id: int
    level: int
    person: str
    team: str | None
    role: str


class Escalator:
    def __init__(self, app: Ripcord) -> None:
        self.app = app
        self._queued: set[tuple[int, int]] = set()  # (incident, level) in the outbox

    def run(self) -> list[int]:
        """Page the next level of every active, unacknowledged incident whose deadline has
        passed; return their ids. Orphaned pages are sent first."""
        self.flush(grace=PENDING_GRACE)
        with self.app.db.session() as session:
            due = [self._climb(session, incident) for incident in self._overdue(session)]
        for page in due:
            self._send(page)
        return [page.incident_id for page in due]

    def flush(self, grace: timedelta = timedelta(0)) -> list[int]:
        """Send the escalation pages that were decided but never sent (a crash between the
        two); an incident acknowledged or closed since is marked paged without a page."""
        now = self.app.clock.now()
        pending: list[Due] = []
        with self.app.db.session() as session:
            query = select(Incident).where(Incident.escalation_paged < Incident.escalation_level)
            for incident in session.scalars(query):
                entry = _last_escalation(session, incident.id)
                if entry is not None and entry.at > now - grace:
                    continue  # young: its sender may still be at work
                if entry is None or not _waiting(incident):
                    incident.escalation_paged = incident.escalation_level
                    continue
                pending.append(_due(incident, entry))
        for page in pending:
            log.warning("escalation page left unsent", extra={"incident": page.incident_id})
            self._send(page)
        return [page.incident_id for page in pending]

    def _overdue(self, session: Session) -> list[Incident]:
        query = select(Incident).where(
            Incident.status.in_([s.value for s in lifecycle.ACTIVE]),
            Incident.acknowledged_at.is_(None),
            Incident.ack_by < self.app.clock.now(),
            Incident.escalation_paged >= Incident.escalation_level,  # nothing left unsent
        )
        # PostgreSQL: two replicas never decide the same level; a row another replica is
        # deciding is skipped (it is no longer overdue when that one commits).
        return list(session.scalars(query.with_for_update(skip_locked=True)))

    def _climb(self, session: Session, incident: Incident) -> Due:
        """Decide the next level: who is paged, and when the one after is due."""
        sop, now = self.app.sop, self.app.clock.now()
        owner = incident.owner or sop.models[incident.model].owner
        levels = ladder(sop, owner, incident.incident_type, now)
        level = incident.escalation_level + 1
        target = levels[min(level, len(levels) - 1)]
        repeat = level >= len(levels) - 1
        incident.escalation_level = level
        incident.ack_by = self._next_deadline(Severity(incident.severity), now, repeat=repeat)
        message = f"not acknowledged in time: paging {target.person} ({target.role})"
        data = {"to": target.person, "team": target.team, "role": target.role, "level": level}
        service.record(
            session, incident, at=now, kind="escalation", actor="ripcord", message=message,
            data=data, action="incident.escalate", after={**data, "ack_by": incident.ack_by},
        )  # fmt: skip
        return Due(incident.id, level, target.person, target.team, target.role)

    def _next_deadline(self, severity: Severity, now: datetime, *, repeat: bool) -> datetime | None:
        spec = self.app.sop.escalation
        ack = timedelta(minutes=spec.ack_minutes.get(severity.label, 60))
        if not repeat or spec.repeat_minutes is None:
            return now + ack
        return now + timedelta(minutes=spec.repeat_minutes) if spec.repeat_minutes else None

    def _send(self, due: Due) -> None:
        """Queue the page; it is marked paged once the channels are done with it (on the
        outbox's thread), so a crash while it waits in the queue leaves it unpaged and
        `flush` sends it after the restart. Until then `flush` here leaves it alone."""
        key = (due.incident_id, due.level)
        if key in self._queued:
            return
        with self.app.db.session() as session:
            incident = service.get(session, due.incident_id)
        headline = incident.title.removeprefix(f"{incident.model} ")
        self._queued.add(key)  # set.add and .discard are atomic: no lock for the two threads
        self.app.responder.page(
            incident,
            MessageKind.PAGE,
            f"ESCALATED, not acknowledged: {headline}",
            to=(due.person,),
            team=due.team,
            sent=functools.partial(self._paged, due),
        )

    def _paged(self, due: Due) -> None:
        try:
            with self.app.db.session() as session:
                session.execute(
                    update(Incident)
                    .where(Incident.id == due.incident_id, Incident.escalation_paged < due.level)
                    .values(escalation_paged=due.level)
                )
        finally:
            self._queued.discard((due.incident_id, due.level))


def _waiting(incident: Incident) -> bool:
    return Status(incident.status) in lifecycle.ACTIVE and incident.acknowledged_at is None


def _last_escalation(session: Session, incident_id: int) -> TimelineEntry | None:
    query = (
        select(TimelineEntry)
        .where(TimelineEntry.incident_id == incident_id, TimelineEntry.kind == "escalation")
        .order_by(TimelineEntry.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def _due(incident: Incident, entry: TimelineEntry) -> Due:
    data = entry.data
    return Due(incident.id, incident.escalation_level, data["to"], data.get("team"), data["role"])
