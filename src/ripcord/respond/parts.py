"""The non-model parts of a multi-part rollback: which version each target goes back to.

A model's SOP can order its rollback over several parts (`rollback: {order: [pipeline,
prompt, model]}`), the names referring to its declared `targets`. For each non-model target
the *last known good* version is chosen, explainably:

- the active version is verified good in service (health `good`): nothing to restore;
- otherwise the suspect change is the activation of the active version (and any unverified
  ones before it): go back to the newest version activated before it that was verified
  good; failing that, to the version that was active just before it, unless implicated in
  a past incident (health `bad`).

The plan is frozen into the rollback's action when it starts (`data["parts"]`), so a
restart resumes the same plan; each part records its own state (`pending`, `restored`,
`kept`), and restoring a part that is not pending does nothing, so no part is redone or
skipped however often the step runs. The parts are restored in the SOP's order inside the
promotion step's transaction (respond/rollback.py): all of them with the model, or none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ripcord.events import ChangeKind
from ripcord.incidents import service
from ripcord.registry.artifacts import ArtifactStore
from ripcord.registry.local import Health
from ripcord.sop.schema import MODEL_PART, ModelSop

if TYPE_CHECKING:
    from ripcord.store.tables import Action, Incident


@dataclass(frozen=True)
class TargetChoice:
    """What a rollback would do to one target, and why."""

    target: str
    kind: str
    active: str | None
    restore_to: str | None  # None: nothing to restore
    reason: str


def choose(
    session: Session, store: ArtifactStore, model: str, target: str, kind: str
) -> TargetChoice:
    """The last known good version of one target (see the module docstring)."""
    current = store.active(session, model, target)
    if current is None:
        return TargetChoice(target, kind, None, None, "never activated: nothing to restore")
    if current.health == Health.GOOD:
        return TargetChoice(
            target, kind, current.version, None, f"{current.version} is verified good: kept"
        )
    history = store.history(session, model, target)
    earlier: list[str] = []  # versions active before the current one's activation, newest first
    for activation in history[1:]:
        if activation.version != current.version and activation.version not in earlier:
            earlier.append(activation.version)
    rows = [store.get(session, model, target, v) for v in earlier]
    good = next((r for r in rows if r.health == Health.GOOD), None)
    if good is not None:
        reason = f"{good.version}: the newest version verified good before {current.version}"
        return TargetChoice(target, kind, current.version, good.version, reason)
    usable = next((r for r in rows if r.health != Health.BAD), None)
    if usable is not None:
        reason = f"{usable.version}: active before {current.version} (never verified in service)"
        return TargetChoice(target, kind, current.version, usable.version, reason)
    return TargetChoice(
        target, kind, current.version, None, "no earlier version that is not implicated: kept"
    )


def plan(
    session: Session, store: ArtifactStore, model: str, spec: ModelSop
) -> list[dict[str, Any]]:
    """Every part in the SOP's order; non-model parts with their choice and state."""
    parts: list[dict[str, Any]] = []
    for name in spec.rollback.order:
        if name == MODEL_PART:
            parts.append({"name": MODEL_PART, "kind": "model"})
            continue
        choice = choose(session, store, model, name, spec.targets[name].kind)
        state = "pending" if choice.restore_to is not None else "kept"
        change = spec.targets[name].change_kind
        parts.append(asdict(choice) | {"name": name, "state": state, "change": change})
    return parts


def restore(
    session: Session,
    store: ArtifactStore,
    part: dict[str, Any],
    *,
    model: str,
    incident_id: int,
    at: datetime,
    actor: str,
) -> dict[str, Any]:
    """Activate the part's last known good version (audited, with its change event) and
    mark the version it replaces as implicated; the part's new state is returned."""
    if part.get("state") != "pending":
        return part
    reason = f"rollback of incident {incident_id}: {part['reason']}"
    store.activate(
        session,
        model=model,
        target=part["name"],
        version=part["restore_to"],
        at=at,
        actor=actor,
        change=ChangeKind(part["change"]),
        reason=reason,
        incident_id=incident_id,
    )
    suspect = store.find(session, model, part["name"], part["active"])
    if suspect is not None and suspect.version != part["restore_to"]:
        store.mark(
            session,
            suspect,
            Health.BAD,
            at=at,
            actor=actor,
            reason=f"implicated in incident {incident_id}",
        )
    return {**part, "state": "restored"}


def restore_pending(
    session: Session,
    store: ArtifactStore,
    action: Action,
    incident: Incident,
    *,
    which: range,
    actor: str,
    now: Callable[[], datetime],
) -> None:
    """Restore the parts at `which` positions of a rollback's plan, in order, each with its
    timeline entry; each part's state is stored with the action, so a part restored before
    a crash is not redone when the rollback resumes."""
    for i in which:
        part = action.data["parts"][i]
        if part.get("state") != "pending":
            continue
        done = restore(
            session,
            store,
            part,
            model=incident.model,
            incident_id=incident.id,
            at=now(),
            actor=actor,
        )
        updated = [*action.data["parts"]]
        updated[i] = done
        action.data = {**action.data, "parts": updated}
        service.note(
            session,
            incident,
            at=now(),
            kind="rollback",
            actor=actor,
            message=f"{part['name']} restored: {part['active']} → {part['restore_to']}",
            data={"action": action.id, "part": done},
        )


def mark_verified(
    session: Session, store: ArtifactStore, model: str, *, at: datetime, reason: str
) -> None:
    """The model verified clean in service with these versions active: each active target
    version earns a good mark (what the next rollback's choice trusts)."""
    for target in store.targets(session, model):
        row = store.active(session, model, target)
        if row is not None:
            store.mark(session, row, Health.GOOD, at=at, actor="ripcord", reason=reason)
