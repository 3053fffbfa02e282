"""Incidents: list and filter, show with the timeline, and what responders do by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime
from sqlalchemy import Select, select

from ripcord.api.deps import Responder, State, Viewer
from ripcord.api.errors import CONFLICT, NOT_FOUND, RESPONSES
from ripcord.api.models import (
    ActionOut,
    AssignIn,
    CommentIn,
    IncidentDetail,
    IncidentOut,
    ReasonIn,
    SeverityIn,
    SeverityLabel,
    TimelineOut,
    incident_fields,
)
from ripcord.errors import InputError, Problem
from ripcord.incidents import desk, service
from ripcord.incidents.lifecycle import Status
from ripcord.sop.severity import Severity
from ripcord.store.tables import Action, Incident, TimelineEntry

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])
IncidentId = Annotated[int, Path(ge=1, le=2**62, description="the incident's id", examples=[1])]
FOUND = {**RESPONSES, **NOT_FOUND}


@router.get("", responses=RESPONSES)
def list_incidents(
    state: State,
    who: Viewer,
    model: Annotated[str | None, Query(max_length=200)] = None,
    severity: SeverityLabel | None = None,
    status: Status | None = None,
    since: Annotated[AwareDatetime | None, Query(description="detected at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="detected before")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> list[IncidentOut]:
    """Incidents, newest first (by detection time)."""
    query = select(Incident).order_by(Incident.detected_at.desc(), Incident.id.desc())
    if model is not None:
        query = query.where(Incident.model == model)
    if severity is not None:
        query = query.where(Incident.severity == int(Severity.parse(severity)))
    if status is not None:
        query = query.where(Incident.status == status.value)
    query = _window(query, since, until)
    with state.runtime() as rc, rc.db.session() as session:
        rows = list(session.scalars(query.limit(limit).offset(offset)))
    return [IncidentOut.of(i) for i in rows]


def _window(
    query: Select[Incident], since: datetime | None, until: datetime | None
) -> Select[Incident]:
    problems = [
        Problem(name, value.isoformat(), "is out of range once converted to UTC")
        for name, value in (("since", since), ("until", until))
        if value is not None and not _utc_ok(value)
    ]
    if problems:
        raise InputError("query", problems)
    if since is not None:
        query = query.where(Incident.detected_at >= since)
    if until is not None:
        query = query.where(Incident.detected_at < until)
    return query


def _utc_ok(value: datetime) -> bool:
    try:
        value.astimezone(UTC)
    except OverflowError:
        return False
    return True


@router.get("/{incident_id}", responses=FOUND)
def show_incident(incident_id: IncidentId, state: State, who: Viewer) -> IncidentDetail:
    """One incident with its timeline (oldest first) and its actions."""
    with state.runtime() as rc, rc.db.session() as session:
        incident = service.get(session, incident_id)
        entries = session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id)
            .order_by(TimelineEntry.at, TimelineEntry.id)
        )
        actions = session.scalars(
            select(Action).where(Action.incident_id == incident_id).order_by(Action.id)
        )
        return IncidentDetail(
            **incident_fields(incident),
            timeline=[TimelineOut.of(e) for e in entries],
            actions=[ActionOut.of(a) for a in actions],
        )


@router.post("/{incident_id}/ack", responses=FOUND)
def acknowledge(incident_id: IncidentId, state: State, who: Responder) -> IncidentOut:
    """Take the page: stops escalation to the backup. Acknowledging twice changes nothing."""
    with state.runtime() as rc:
        return IncidentOut.of(desk.acknowledge(rc, incident_id, actor=who.name))


@router.post("/{incident_id}/assign", responses=FOUND)
def assign(incident_id: IncidentId, body: AssignIn, state: State, who: Responder) -> IncidentOut:
    """Hand the incident to a team or a person; later pages go to the new owner."""
    with state.runtime() as rc:
        return IncidentOut.of(desk.assign(rc, incident_id, body.owner, actor=who.name))


@router.post("/{incident_id}/comment", responses=FOUND)
def comment(incident_id: IncidentId, body: CommentIn, state: State, who: Responder) -> IncidentOut:
    """Add a note to the timeline."""
    with state.runtime() as rc:
        return IncidentOut.of(desk.comment(rc, incident_id, body.message, actor=who.name))


@router.post("/{incident_id}/severity", responses={**FOUND, **CONFLICT})
def change_severity(
    incident_id: IncidentId, body: SeverityIn, state: State, who: Responder
) -> IncidentOut:
    """Raise the severity at once (the owners are paged), or lower it with a `reason`
    (422 without one); either way the change is on the timeline and in the audit log."""
    severity = Severity.parse(body.severity)
    with state.runtime() as rc:
        incident = desk.change_severity(
            rc, incident_id, severity, actor=who.name, reason=body.reason
        )
        return IncidentOut.of(incident)


@router.post("/{incident_id}/resolve", responses={**FOUND, **CONFLICT})
def resolve(incident_id: IncidentId, body: ReasonIn, state: State, who: Responder) -> IncidentOut:
    """Resolve by hand; the reason is audited. 409 if the lifecycle does not allow it."""
    with state.runtime() as rc:
        return IncidentOut.of(desk.resolve(rc, incident_id, body.reason, actor=who.name))


@router.post("/{incident_id}/reopen", responses={**FOUND, **CONFLICT})
def reopen(incident_id: IncidentId, body: ReasonIn, state: State, who: Responder) -> IncidentOut:
    """Reopen a resolved incident: a fresh ack deadline, the owner's primary paged again and
    escalation restarted from there. 409 unless it is resolved (not yet reviewed)."""
    with state.runtime() as rc:
        return IncidentOut.of(desk.reopen(rc, incident_id, body.reason, actor=who.name))
