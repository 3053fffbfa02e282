"""Alertmanager's webhook notifications (payload version 4) as incidents.

Alertmanager batches alerts into groups (by its route's `group_by`) and POSTs a group's
whole state: on its first flush (`group_wait`), whenever it changed (`group_interval`),
and again every `repeat_interval`. So the receiver sees the same alerts many times:

- `groupKey` maps to one incident. A group's first firing alert goes through triage like
  any detector's signal (family `external_alert`, its SEV from the SOP's `alertmanager:`
  section), and the incident it lands in becomes the group's. While that incident is
  active, every later alert of the group joins it: its signal takes the incident's model,
  so triage finds the same incident. Once it is resolved, the next firing alert of the
  group opens (or joins) another, and the group follows it; within triage's flapping
  cooldown it joins the resolved incident instead, which stays resolved and pages nobody.
- `fingerprint` de-duplicates: an alert already recorded as firing adds nothing when it is
  sent again. One that resolved and fires again (a new `startsAt`) is new.
- `status: resolved` is recorded on the timeline. When every alert recorded on the incident
  has resolved, the incident is resolved too, unless the SOP says `resolve: false`, a
  detector raised signals on it as well, a rollback is still under way, or the model's
  traffic is still held off its serving version: those need a person, and the timeline
  says what held the incident open.

Every change is written with its timeline entry and audit row in one transaction; the
signal's incident is committed by the responder before the alert is recorded, so a crash
in between is repaired by Alertmanager's retry (the alert is then recorded, not doubled).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ripcord.detect.base import Reading, Signal
from ripcord.errors import InputError, Problem
from ripcord.events import UNKNOWN_MODEL
from ripcord.incidents import lifecycle, service
from ripcord.incidents.alertmanager_payload import AlertmanagerAlert as Alert
from ripcord.incidents.alertmanager_payload import AlertmanagerNotification as Notification
from ripcord.incidents.lifecycle import Status
from ripcord.notify.base import MessageKind
from ripcord.respond.breaker import BreakerState
from ripcord.respond.rollback import Step
from ripcord.sop.severity import EXTERNAL_ALERT
from ripcord.store.tables import Action, AlertGroup, ExternalAlert, Incident, SignalRow

if TYPE_CHECKING:
    from ripcord.app import Ripcord

DETECTOR = "alertmanager"
MAX_VERSION = 100  # the incident's version column


@dataclass
class Receipt:
    """What one notification did, by fingerprint."""

    group_key: str
    incident_id: int | None = None
    new: list[str] = field(default_factory=list)  # joined the timeline (and triage)
    repeated: list[str] = field(default_factory=list)  # already recorded: nothing added
    resolved: list[str] = field(default_factory=list)  # resolution recorded
    ignored: list[str] = field(default_factory=list)  # resolved, never seen firing here
    incident_resolved: bool = False


def receive(rc: Ripcord, notification: Notification, *, actor: str) -> Receipt:
    """Record one notification; `actor` (the caller's token) is named on every write.

    The whole notification is checked first (every alert names a model of the SOP file),
    so a bad one changes nothing.
    """
    problems = check(rc, notification)
    if problems:
        raise InputError("Alertmanager notification", problems)
    receipt = Receipt(notification.groupKey)
    # Firing first, so a group whose first notification also resolves some of its alerts
    # has its incident before the resolutions are recorded on it.
    for alert in notification.alerts:
        if alert.status == "firing":
            fired = _fire(rc, notification, alert, actor)
            (receipt.new if fired else receipt.repeated).append(alert.fingerprint)
    for alert in notification.alerts:
        if alert.status == "resolved":
            outcome = _resolve(rc, notification, alert, actor)
            getattr(receipt, outcome).append(alert.fingerprint)
    with rc.db.session() as session:
        group = _group(session, notification.groupKey)
        receipt.incident_id = group.incident_id if group else None
        if group is not None and notification.truncatedAlerts:
            _truncated(rc, session, group, notification, actor)
    if receipt.resolved and receipt.incident_id is not None:
        receipt.incident_resolved = settle(rc, receipt.incident_id, actor=actor)
    return receipt


def check(rc: Ripcord, notification: Notification) -> list[Problem]:
    """Every alert must name a model of the SOP file (or the SOP must give a default)."""
    spec, problems = rc.sop.alertmanager, []
    for i, alert in enumerate(notification.alerts):
        model = spec.model(alert.labels)
        where = f"alerts[{i}].labels.{spec.model_label}"
        if model is None:
            message = "is required (or set alertmanager.default_model in the SOP file)"
            problems.append(Problem(where, None, message))
        elif model not in rc.sop.models:
            problems.append(Problem(where, model, UNKNOWN_MODEL))
        version = alert.labels.get(spec.version_label)
        if version is not None and len(version) > MAX_VERSION:
            where = f"alerts[{i}].labels.{spec.version_label}"
            problems.append(Problem(where, version, f"is longer than {MAX_VERSION} characters"))
    return problems


def key_hash(group_key: str) -> str:
    return hashlib.sha256(group_key.encode()).hexdigest()


def _group(session: Session, group_key: str) -> AlertGroup | None:
    query = select(AlertGroup).where(AlertGroup.key_hash == key_hash(group_key))
    return session.scalars(query).first()


def _row(session: Session, group: AlertGroup | None, fingerprint: str) -> ExternalAlert | None:
    if group is None:
        return None
    query = select(ExternalAlert).where(
        ExternalAlert.group_id == group.id, ExternalAlert.fingerprint == fingerprint
    )
    return session.scalars(query).first()


def _fire(rc: Ripcord, notification: Notification, alert: Alert, actor: str) -> bool:
    """Triage a firing alert the group has not recorded as firing; False for a repeat."""
    with rc.db.session() as session:
        group = _group(session, notification.groupKey)
        row = _row(session, group, alert.fingerprint)
        if row is not None and (row.status == "firing" or row.starts_at == alert.startsAt):
            return False
        current = session.get(Incident, group.incident_id) if group else None
        active = current is not None and Status(current.status) in lifecycle.ACTIVE
        model = current.model if active and current else rc.sop.alertmanager.model(alert.labels)
    assert model is not None  # check() made sure of it
    signal = to_signal(rc, notification, alert, model)
    rc.observe(rc.on_signal, signal)
    incident = rc.responder.handle(signal)
    with rc.db.session() as session:
        _record(rc, session, notification, alert, incident, actor)
    return True


def to_signal(rc: Ripcord, notification: Notification, alert: Alert, model: str) -> Signal:
    """The alert as a signal: its reading's value is the urgency its labels map to."""
    spec = rc.sop.alertmanager
    severity, how = spec.severity(alert.labels)
    version = alert.labels.get(spec.version_label) or rc.routes.state(model).serving
    evidence = {
        "source": "alertmanager",
        "group_key": notification.groupKey,
        "fingerprint": alert.fingerprint,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "generator_url": alert.generatorURL,
        "starts_at": alert.startsAt.isoformat(),
        "severity_from": how,
    }
    reading = Reading(alert.name[:100], float(severity), 0.0, "above", 1, evidence)
    return Signal(model, version or "unknown", DETECTOR, EXTERNAL_ALERT, reading, rc.clock.now())


def _record(
    rc: Ripcord,
    session: Session,
    notification: Notification,
    alert: Alert,
    incident: Incident,
    actor: str,
) -> None:
    """Store the group's incident and the alert as firing, on the timeline and audited."""
    now = rc.clock.now()
    group = _group(session, notification.groupKey)
    if group is None:
        group = AlertGroup(
            key_hash=key_hash(notification.groupKey),
            group_key=notification.groupKey,
            receiver=notification.receiver,
            incident_id=incident.id,
            created_at=now,
            updated_at=now,
        )
        session.add(group)
        session.flush()
    elif group.incident_id != incident.id:
        group.incident_id, group.updated_at = incident.id, now
    severity, how = rc.sop.alertmanager.severity(alert.labels)
    row = _row(session, group, alert.fingerprint)
    if row is None:
        row = ExternalAlert(group_id=group.id, fingerprint=alert.fingerprint)
        session.add(row)
    row.incident_id, row.name, row.status = incident.id, alert.name, "firing"
    row.severity, row.labels = int(severity), dict(alert.labels)
    row.starts_at, row.ends_at, row.updated_at = alert.startsAt, None, now
    text = f"alert {alert.name} firing ({severity.label} from {how})" + _summary(alert)
    _log(session, incident, alert, notification, text=text, at=now, actor=actor)


def _resolve(rc: Ripcord, notification: Notification, alert: Alert, actor: str) -> str:
    """Record a resolution: 'resolved', 'repeated' (already recorded) or 'ignored' (the
    group has no incident here to record it on)."""
    now = rc.clock.now()
    with rc.db.session() as session:
        group = _group(session, notification.groupKey)
        if group is None:
            return "ignored"
        row = _row(session, group, alert.fingerprint)
        if row is not None and row.status == "resolved":
            return "repeated"
        if row is None:  # fired and resolved between two notifications
            severity, _ = rc.sop.alertmanager.severity(alert.labels)
            row = ExternalAlert(
                group_id=group.id,
                incident_id=group.incident_id,
                fingerprint=alert.fingerprint,
                name=alert.name,
                severity=int(severity),
                labels=dict(alert.labels),
                starts_at=alert.startsAt,
            )
            session.add(row)
        row.status, row.ends_at, row.updated_at = "resolved", alert.endsAt, now
        incident = service.get(session, row.incident_id)
        text = f"alert {alert.name} resolved at {alert.endsAt.isoformat()}"
        _log(session, incident, alert, notification, text=text, at=now, actor=actor)
    return "resolved"


def _log(
    session: Session,
    incident: Incident,
    alert: Alert,
    notification: Notification,
    **entry: Any,
) -> None:
    data = {
        "fingerprint": alert.fingerprint,
        "status": alert.status,
        "group_key": notification.groupKey,
        "labels": alert.labels,
        "generator_url": alert.generatorURL,
    }
    at, actor, text = entry["at"], entry["actor"], entry["text"]
    service.record(
        session, incident, at=at, kind="alert", actor=actor, message=text, data=data,
        action=f"alert.{alert.status}",
        after={"fingerprint": alert.fingerprint, "group_key": notification.groupKey},
    )  # fmt: skip


def _summary(alert: Alert) -> str:
    text = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    return f": {text}" if text else ""


def _truncated(
    rc: Ripcord, session: Session, group: AlertGroup, notification: Notification, actor: str
) -> None:
    incident = service.get(session, group.incident_id)
    text = (
        f"Alertmanager left {notification.truncatedAlerts} alert(s) of the group out of this "
        f"notification (its max_alerts); see {notification.externalURL or 'Alertmanager'}"
    )
    service.note(session, incident, at=rc.clock.now(), kind="alert", actor=actor, message=text)


def settle(rc: Ripcord, incident_id: int, *, actor: str) -> bool:
    """Resolve the incident if every alert recorded on it has resolved and nothing else
    holds it open; otherwise say on the timeline what holds it. True when resolved."""
    now = rc.clock.now()
    with rc.db.session() as session:
        incident = service.get(session, incident_id)
        if Status(incident.status) not in lifecycle.ACTIVE:
            return False
        firing = session.scalar(
            select(func.count(ExternalAlert.id)).where(
                ExternalAlert.incident_id == incident_id, ExternalAlert.status == "firing"
            )
        )
        if firing:
            return False
        held = holds(rc, session, incident)
        if held:
            text = f"every alert has resolved; the incident stays {incident.status}: "
            text += "; ".join(held) + " (resolve it by hand)"
            service.note(session, incident, at=now, kind="alert", actor=actor, message=text)
            return False
        reason = "every Alertmanager alert on the incident has resolved"
        service.transition(session, incident, Status.RESOLVED, at=now, actor=actor, reason=reason)
    rc.responder.page(incident, MessageKind.RESOLVED, f"resolved: {reason}")
    return True


def holds(rc: Ripcord, session: Session, incident: Incident) -> list[str]:
    """What keeps an incident open once its alerts have resolved."""
    reasons = []
    if not rc.sop.alertmanager.resolve:
        reasons.append("the SOP's alertmanager.resolve is false")
    others = session.scalar(
        select(func.count(SignalRow.id)).where(
            SignalRow.incident_id == incident.id, SignalRow.family != EXTERNAL_ALERT
        )
    )
    if others:
        reasons.append(f"detectors raised {others} signal(s) on it too")
    actions = session.scalars(select(Action).where(Action.incident_id == incident.id))
    reasons += [
        f"{a.kind} action {a.id} is {a.status}" for a in actions if not Step(a.status).final
    ]
    route = rc.routes.state(incident.model)
    if route.breaker is not BreakerState.CLOSED or route.killed:
        reasons.append(f"{incident.model}'s traffic is held off its serving version")
    return reasons
