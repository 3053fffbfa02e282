"""What people do to an incident by hand (the API; the CLI can share it): acknowledge,
assign, comment, change the severity, resolve, reopen.

Each is one transaction holding the change, its timeline entry and its audit row, with the
actor named; a severity raised by hand tightens the ack deadline and pages the owners after
the commit, the way a worse signal does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from ripcord.incidents import lifecycle, service
from ripcord.incidents.lifecycle import Status
from ripcord.notify.base import MessageKind
from ripcord.sop.severity import Severity
from ripcord.store.tables import Incident

if TYPE_CHECKING:
    from ripcord.app import Ripcord


def acknowledge(rc: Ripcord, incident_id: int, *, actor: str) -> Incident:
    """Take the page; the channels hear of it once (PagerDuty's `acknowledge` on the
    incident's dedup key stops its own escalation). Acknowledging again sends nothing."""
    with rc.db.session() as session:
        incident = service.get(session, incident_id)
        first = incident.acknowledged_at is None
        service.acknowledge(session, incident, at=rc.clock.now(), actor=actor)
    if first:
        rc.responder.page(incident, MessageKind.ACK, f"acknowledged by {actor}")
    return incident


def assign(rc: Ripcord, incident_id: int, owner: str, *, actor: str) -> Incident:
    with rc.db.session() as session:
        incident = service.get(session, incident_id)
        service.assign(session, incident, owner, at=rc.clock.now(), actor=actor)
    return incident


def comment(rc: Ripcord, incident_id: int, message: str, *, actor: str) -> Incident:
    with rc.db.session() as session:
        incident = service.get(session, incident_id)
        service.comment(session, incident, message, at=rc.clock.now(), actor=actor)
    return incident


def resolve(rc: Ripcord, incident_id: int, reason: str, *, actor: str) -> Incident:
    """Resolve by hand and send the resolution notice (PagerDuty's `resolve`), as an
    automatic resolution does; a refused transition sends nothing."""
    with rc.db.session() as session:
        incident = service.get(session, incident_id)
        service.transition(
            session, incident, Status.RESOLVED, at=rc.clock.now(), actor=actor, reason=reason
        )
    rc.responder.page(incident, MessageKind.RESOLVED, f"resolved by {actor}: {reason}")
    return incident


def reopen(rc: Ripcord, incident_id: int, reason: str, *, actor: str) -> Incident:
    """A resolved incident that is back: open again, with a fresh ack deadline and its
    escalation restarted from the owner's primary (who is paged now), not from the level
    the first round reached. Refused (TransitionError) once the incident is reviewed."""
    now = rc.clock.now()
    with rc.db.session() as session:
        incident = service.get(session, incident_id)
        service.transition(session, incident, Status.OPEN, at=now, actor=actor, reason=reason)
        minutes = rc.sop.escalation.ack_minutes.get(Severity(incident.severity).label, 60)
        incident.ack_by = now + timedelta(minutes=minutes)
        incident.escalation_level = incident.escalation_paged = 0
    rc.responder.page(incident, MessageKind.PAGE, f"reopened by {actor}: {reason}")
    return incident


def change_severity(
    rc: Ripcord, incident_id: int, severity: Severity, *, actor: str, reason: str = ""
) -> Incident:
    """Raise at once (paging an active incident's owners), or lower with a reason."""
    now = rc.clock.now()
    with rc.db.session() as session:
        incident = service.get(session, incident_id)
        was = Severity(incident.severity).label
        raised = service.change_severity(
            session, incident, severity, at=now, actor=actor, reason=reason
        )
        if raised and incident.acknowledged_at is None:
            minutes = rc.sop.escalation.ack_minutes.get(severity.label, 60)
            deadline = now + timedelta(minutes=minutes)
            incident.ack_by = min(incident.ack_by, deadline) if incident.ack_by else deadline
    if raised and Status(incident.status) in lifecycle.ACTIVE:
        why = f": {reason}" if reason else ""
        headline = f"severity raised from {was} by {actor}{why}"
        rc.responder.page(incident, MessageKind.PAGE, headline)
    return incident
