"""Which version a rollback would go to, and why: the last-known-good choice, explained.

A version is a candidate when it has a clean health record (verified in service after its
own deploy or rollback), is not implicated in an incident, and is not the one serving now.
Implicated: named by an open incident of the model (any type), or by a closed model-quality
or safety incident (one resolved by hand, or whose rollback was rejected) unless the version
has been verified clean in service since that incident was detected. Infrastructure and
data incidents do not implicate the version that happened to serve. Candidates are tried
newest first, each validated on the golden set before it serves. `ripcord rollback plan
MODEL` prints this table.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ripcord.incidents import lifecycle
from ripcord.registry.local import Health, LocalRegistry
from ripcord.sop.severity import IncidentType
from ripcord.store.tables import AuditRow, Incident, ModelVersion


@dataclass(frozen=True)
class Choice:
    version: str
    eligible: bool
    reason: str
    last_validation: bool | None  # passed / failed at its last golden-set check; None: never


def implicated(session: Session, model: str) -> dict[str, str]:
    """Versions of `model` implicated in an incident -> why (see the module docstring)."""
    active = {s.value for s in lifecycle.ACTIVE}
    blaming = {IncidentType.MODEL_QUALITY.value, IncidentType.SAFETY.value}
    cleared = _verified_since(session, model)
    query = select(Incident).where(Incident.model == model).order_by(Incident.id)
    out: dict[str, str] = {}
    for incident in session.scalars(query):
        version = incident.version
        if not version or version in out:
            continue
        if incident.status in active:
            out[version] = f"implicated in open incident {incident.id}"
        elif incident.incident_type in blaming and not (
            version in cleared and cleared[version] > incident.detected_at
        ):
            out[version] = f"implicated in incident {incident.id} ({incident.incident_type})"
    return out


def _verified_since(session: Session, model: str) -> dict[str, datetime]:
    """Each version's last good mark (from the audit log, which keeps when it was given)."""
    query = select(AuditRow).where(
        AuditRow.action == "version.health", AuditRow.subject.startswith(f"model:{model}@")
    )
    out: dict[str, datetime] = {}
    for row in session.scalars(query.order_by(AuditRow.id)):
        if (row.after or {}).get("health") == Health.GOOD:
            out[row.subject.split("@", 1)[1]] = row.at
    return out


def _reason(row: ModelVersion, serving: str | None, blamed: dict[str, str]) -> str | None:
    """Why `row` is not a candidate, or None when it is one."""
    if row.version == serving:
        return "serving now"
    if row.version in blamed:
        return blamed[row.version]
    if row.health == Health.BAD:
        return "health bad: implicated in a past incident or failed verification"
    if row.health != Health.GOOD:
        return "never verified in service"
    return None


def plan(
    session: Session,
    registry: LocalRegistry,
    model: str,
    *,
    serving: str | None,
    exclude: AbstractSet[str] = frozenset(),
) -> list[Choice]:
    """Every registered version, newest first, with whether it is a candidate and why."""
    blamed = implicated(session, model)
    choices: list[Choice] = []
    for row in registry.versions(session, model):
        reason = "already tried" if row.version in exclude else _reason(row, serving, blamed)
        validation = (row.validation or {}).get("passed")
        rank = sum(c.eligible for c in choices) + 1
        choices.append(
            Choice(
                row.version,
                reason is None,
                reason or f"candidate #{rank}",
                validation if isinstance(validation, bool) else None,
            )
        )
    return choices
