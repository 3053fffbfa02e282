"""Incident records: open or join on a signal, transitions, acks, timeline, audit.

Every function here works inside the caller's transaction (a `Session`), so a state change,
its timeline entry and its audit row are stored together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ripcord.detect.base import Signal
from ripcord.errors import InputError, NotFoundError, Problem, TransitionError
from ripcord.incidents import lifecycle
from ripcord.incidents.lifecycle import Status
from ripcord.sop.severity import Classification, Severity
from ripcord.store import audit
from ripcord.store.tables import Incident, SignalRow, TimelineEntry


def segment_key(segment: Mapping[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((segment or {}).items()))


def snapshot(incident: Incident) -> dict[str, Any]:
    return {"status": incident.status, "severity": Severity(incident.severity).label}


def get(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFoundError("incident", incident_id)
    return incident


def note(
    session: Session,
    incident: Incident,
    *,
    at: datetime,
    kind: str,
    actor: str,
    message: str,
    data: Mapping[str, Any] | None = None,
) -> TimelineEntry:
    entry = TimelineEntry(
        incident_id=incident.id,
        at=at,
        kind=kind,
        actor=actor,
        message=message,
        data=audit.plain(data or {}),
    )
    session.add(entry)
    return entry


def record(
    session: Session,
    incident: Incident,
    *,
    at: datetime,
    kind: str,
    actor: str,
    message: str,
    action: str,
    subject: str | None = None,
    data: Mapping[str, Any] | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> TimelineEntry:
    """A timeline entry and its audit row (the message as the reason, `subject` by default
    the incident) in the caller's transaction: what the incident's people read is also in
    the tamper-evident log, never one without the other."""
    entry = note(session, incident, at=at, kind=kind, actor=actor, message=message, data=data)
    audit.append(
        session,
        at=at,
        actor=actor,
        action=action,
        subject=subject or f"incident:{incident.id}",
        reason=message,
        before=None if before is None else dict(before),
        after=None if after is None else dict(after),
    )
    return entry


def transition(
    session: Session, incident: Incident, target: Status, *, at: datetime, actor: str, reason: str
) -> None:
    """Move an incident along the lifecycle table, with its timeline entry and audit row."""
    current = Status(incident.status)
    lifecycle.check(current, target)
    before = snapshot(incident)
    incident.status = target.value
    if target is Status.OPEN:  # reopened: it needs a new ack and a new resolution
        incident.acknowledged_at = incident.resolved_at = None
    stamp = lifecycle.STAMPS.get(target)
    if stamp and getattr(incident, stamp) is None:
        setattr(incident, stamp, at)
    note(
        session,
        incident,
        at=at,
        kind="status",
        actor=actor,
        message=f"{current.value} → {target.value}: {reason}",
    )
    audit.append(
        session,
        at=at,
        actor=actor,
        action=f"incident.{target.value}",
        subject=f"incident:{incident.id}",
        reason=reason,
        before=before,
        after=snapshot(incident),
    )


def acknowledge(session: Session, incident: Incident, *, at: datetime, actor: str) -> None:
    """A human took the page. Moves an open incident to acknowledged; on an incident that
    automation already moved on, it only stamps the ack time."""
    if incident.acknowledged_at is not None:
        return
    if Status(incident.status) is Status.OPEN:
        transition(
            session, incident, Status.ACKNOWLEDGED, at=at, actor=actor, reason="page acknowledged"
        )
        return
    incident.acknowledged_at = at
    note(session, incident, at=at, kind="ack", actor=actor, message="page acknowledged")
    audit.append(
        session,
        at=at,
        actor=actor,
        action="incident.ack",
        subject=f"incident:{incident.id}",
        after=snapshot(incident),
    )


@dataclass(frozen=True)
class Triage:
    incident: Incident
    created: bool
    raised: bool  # severity went up on an incident that was already open
    flapping: bool = False  # joined an incident resolved within the cooldown: no action


def _active(session: Session, model: str, incident_type: str, segment: str) -> Incident | None:
    query = (
        select(Incident)
        .where(
            Incident.model == model,
            Incident.incident_type == incident_type,
            Incident.segment == segment,
            Incident.status.in_([s.value for s in lifecycle.ACTIVE]),
        )
        .order_by(Incident.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def open_or_join(
    session: Session,
    signal: Signal,
    cls: Classification,
    *,
    owner: str,
    started_at: datetime,
    ack_by: datetime,
    cooldown: timedelta = timedelta(0),
    deployed_at: datetime | None = None,
) -> Triage:
    """Group a signal into the open incident for (model, type, segment), or open one. A
    worse signal raises the severity at once, and its ack deadline if that is sooner.

    With no open incident, a signal no more severe than one resolved less than `cooldown`
    ago is flapping: it joins that incident's timeline, which stays resolved. A deploy of
    the signal's version since then (`deployed_at`) is a change, so its signal is news."""
    seg = segment_key(signal.segment)
    incident = _active(session, signal.model, cls.incident_type.value, seg)
    created = raised = False
    if incident is None and cooldown > timedelta(0):
        since = signal.at - cooldown
        resolved = _recently_resolved(session, signal, cls, seg, since, deployed_at)
        if resolved is not None:
            _add_signal(session, resolved, signal, cls, flapping=True)
            return Triage(resolved, created=False, raised=False, flapping=True)
    if incident is None:
        incident = Incident(
            model=signal.model,
            incident_type=cls.incident_type.value,
            segment=seg,
            severity=int(cls.severity),
            status=Status.OPEN.value,
            version=signal.version,
            owner=owner,
            title=f"{signal.model} {signal.version}: {cls.rule}",
            started_at=started_at,
            detected_at=signal.at,
            ack_by=ack_by,
        )
        session.add(incident)
        session.flush()
        created = True
        audit.append(
            session,
            at=signal.at,
            actor="ripcord",
            action="incident.open",
            subject=f"incident:{incident.id}",
            reason=signal.summary,
            after=snapshot(incident),
        )
    elif cls.severity > Severity(incident.severity):
        before = snapshot(incident)
        incident.severity = int(cls.severity)
        raised = True
        if incident.acknowledged_at is None:  # the worse severity's deadline, if sooner
            incident.ack_by = min(incident.ack_by, ack_by) if incident.ack_by else ack_by
        note(
            session,
            incident,
            at=signal.at,
            kind="severity",
            actor="ripcord",
            message=f"severity raised to {cls.severity.label}: {signal.summary}",
        )
        audit.append(
            session,
            at=signal.at,
            actor="ripcord",
            action="incident.severity",
            subject=f"incident:{incident.id}",
            reason=signal.summary,
            before=before,
            after=snapshot(incident),
        )
    _add_signal(session, incident, signal, cls)
    return Triage(incident, created, raised)


def _recently_resolved(
    session: Session,
    signal: Signal,
    cls: Classification,
    segment: str,
    since: datetime,
    deployed_at: datetime | None,
) -> Incident | None:
    """The incident for the signal's key resolved after `since`, unless the signal is
    worse or its version was deployed after the resolution (both news, not flapping)."""
    query = (
        select(Incident)
        .where(
            Incident.model == signal.model,
            Incident.incident_type == cls.incident_type.value,
            Incident.segment == segment,
            Incident.status == Status.RESOLVED.value,
            Incident.resolved_at > since,
        )
        .order_by(Incident.resolved_at.desc())
        .limit(1)
    )
    incident = session.scalars(query).first()
    if incident is None or incident.resolved_at is None or cls.severity > incident.severity:
        return None
    return None if deployed_at and deployed_at > incident.resolved_at else incident


def _add_signal(
    session: Session,
    incident: Incident,
    signal: Signal,
    cls: Classification,
    *,
    flapping: bool = False,
) -> None:
    r = signal.reading
    session.add(
        SignalRow(
            incident_id=incident.id,
            model=signal.model,
            version=signal.version,
            detector=signal.detector,
            family=signal.family,
            metric=r.metric,
            value=r.value,
            threshold=r.threshold,
            direction=r.direction,
            window=r.window,
            severity=int(cls.severity),
            at=signal.at,
            evidence=audit.plain(r.evidence),
        )
    )
    note(
        session,
        incident,
        at=signal.at,
        kind="signal",
        actor="ripcord",
        message=f"{cls.severity.label} {cls.incident_type.value}: {signal.summary}"
        + (" (flapping: resolved within the cooldown; not reopened)" if flapping else ""),
        data={
            "detector": signal.detector,
            "value": r.value,
            "threshold": r.threshold,
            **({"flapping": True} if flapping else {}),
        },
    )


# -- what people do by hand (API, CLI) ------------------------------------------------------
def comment(
    session: Session, incident: Incident, message: str, *, at: datetime, actor: str
) -> TimelineEntry:
    """A free-text note on the timeline, audited like every other write."""
    entry = note(session, incident, at=at, kind="comment", actor=actor, message=message)
    audit.append(
        session,
        at=at,
        actor=actor,
        action="incident.comment",
        subject=f"incident:{incident.id}",
        reason=message,
    )
    return entry


def assign(session: Session, incident: Incident, owner: str, *, at: datetime, actor: str) -> None:
    """Hand the incident to a team (by its SOP name) or a person; pages follow the owner."""
    if owner == incident.owner:
        return
    before = {**snapshot(incident), "owner": incident.owner}
    incident.owner = owner
    note(
        session,
        incident,
        at=at,
        kind="assign",
        actor=actor,
        message=f"assigned to {owner} (was {before['owner']})",
    )
    audit.append(
        session,
        at=at,
        actor=actor,
        action="incident.assign",
        subject=f"incident:{incident.id}",
        before=before,
        after={**snapshot(incident), "owner": owner},
    )


def change_severity(
    session: Session,
    incident: Incident,
    severity: Severity,
    *,
    at: datetime,
    actor: str,
    reason: str = "",
) -> bool:
    """Set the severity by hand; True when it went up. A rise takes effect at once; a
    lowering needs a reason, because it slows the response (later ack, less containment)."""
    current = Severity(incident.severity)
    if Status(incident.status) is Status.REVIEWED:
        raise TransitionError(f"incident {incident.id}: status reviewed; severity is final")
    if severity == current:
        return False
    if severity < current and not reason.strip():
        message = f"is required to lower {current.label} to {severity.label}"
        raise InputError("severity change", [Problem("reason", reason, message)])
    before = snapshot(incident)
    incident.severity = int(severity)
    verb = "raised" if severity > current else "lowered"
    text = f"severity {verb} {current.label} → {severity.label}" + (f": {reason}" if reason else "")
    note(session, incident, at=at, kind="severity", actor=actor, message=text)
    audit.append(
        session,
        at=at,
        actor=actor,
        action="incident.severity",
        subject=f"incident:{incident.id}",
        reason=reason,
        before=before,
        after=snapshot(incident),
    )
    return severity > current
