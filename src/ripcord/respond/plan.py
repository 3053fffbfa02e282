"""Which version a rollback would go to, and why: the last-known-good choice, explained.

A version is a candidate when it has a clean health record (verified in service after its
own deploy or rollback), is not the version an open incident implicates, and is not the one
serving now. Candidates are tried newest first, each validated on the golden set before it
serves. `ripcord rollback plan MODEL` prints this table.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ripcord.incidents import lifecycle
from ripcord.registry.local import Health, LocalRegistry
from ripcord.store.tables import Incident, ModelVersion


@dataclass(frozen=True)
class Choice:
    version: str
    eligible: bool
    reason: str
    last_validation: bool | None  # passed / failed at its last golden-set check; None: never


def implicated(session: Session, model: str) -> dict[str, int]:
    """Versions named by an active incident of the model -> the incident's id."""
    active = [s.value for s in lifecycle.ACTIVE]
    query = select(Incident.version, Incident.id).where(
        Incident.model == model, Incident.status.in_(active)
    )
    return {version: incident_id for version, incident_id in session.execute(query) if version}


def _reason(row: ModelVersion, serving: str | None, open_incidents: dict[str, int]) -> str | None:
    """Why `row` is not a candidate, or None when it is one."""
    if row.version == serving:
        return "serving now"
    if row.version in open_incidents:
        return f"implicated in open incident {open_incidents[row.version]}"
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
    open_incidents = implicated(session, model)
    choices: list[Choice] = []
    for row in registry.versions(session, model):
        reason = (
            "already tried" if row.version in exclude else _reason(row, serving, open_incidents)
        )
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
