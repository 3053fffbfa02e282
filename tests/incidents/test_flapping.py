"""Flapping on a real database: within the cooldown after its incident was resolved, a
signal of the same key joins that incident, which stays resolved; later, or worse, it opens
a new one."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ripcord.incidents import service
from ripcord.incidents.lifecycle import Status
from ripcord.sop.severity import Classification
from ripcord.store.db import Database
from tests.incidents.test_service import (
    ACK_BY,
    SEV1_INFRA,
    SEV2_INFRA,
    SEV3_INFRA,
    STARTED,
    T0,
    counts,
    load,
    move,
    opened,
    signal,
    timeline,
)

COOLDOWN = timedelta(minutes=30)
RESOLVED_AT = T0 + timedelta(hours=1)


def triage_with_cooldown(
    db: Database,
    minutes_after: float,
    cls: Classification = SEV2_INFRA,
    deployed_at: datetime | None = None,
) -> service.Triage:
    with db.session() as session:
        sig = signal(at=RESOLVED_AT + timedelta(minutes=minutes_after))
        return service.open_or_join(
            session,
            sig,
            cls,
            owner="oncall-ml",
            started_at=STARTED,
            ack_by=ACK_BY,
            cooldown=COOLDOWN,
            deployed_at=deployed_at,
        )


@pytest.fixture
def resolved(db: Database) -> int:
    first = opened(db)
    move(db, first, Status.RESOLVED, RESOLVED_AT, "fixed upstream")
    return first


@pytest.mark.parametrize("minutes_after", [0, 10, 29.99])
def test_within_the_cooldown_a_signal_joins_the_resolved_incident(
    db: Database, resolved: int, minutes_after: float
) -> None:
    before = counts(db)
    result = triage_with_cooldown(db, minutes_after)
    assert (result.incident.id, result.created, result.raised, result.flapping) == (
        resolved,
        False,
        False,
        True,
    )
    incident = load(db, resolved)
    assert (incident.status, incident.resolved_at) == ("resolved", RESOLVED_AT)
    kind, actor, message = timeline(db, resolved)[-1]
    assert (kind, actor) == ("signal", "ripcord")
    assert message.endswith("(flapping: resolved within the cooldown; not reopened)")
    after = counts(db)
    assert (after["incidents"], after["signals"]) == (before["incidents"], before["signals"] + 1)
    assert after["audit"] == before["audit"]  # nothing changed state: nothing to audit


@pytest.mark.parametrize("minutes_after", [30, 90])
def test_after_the_cooldown_a_signal_opens_a_new_incident(
    db: Database, resolved: int, minutes_after: float
) -> None:
    result = triage_with_cooldown(db, minutes_after)
    assert result.created and not result.flapping and result.incident.id != resolved
    assert load(db, resolved).status == "resolved"


def test_a_less_severe_signal_is_flapping_too(db: Database, resolved: int) -> None:
    assert triage_with_cooldown(db, 5, SEV3_INFRA).flapping


def test_a_worse_signal_within_the_cooldown_is_news(db: Database, resolved: int) -> None:
    result = triage_with_cooldown(db, 5, SEV1_INFRA)
    assert result.created and not result.flapping
    assert (load(db, result.incident.id).severity, load(db, resolved).status) == (4, "resolved")


def test_without_a_cooldown_a_new_incident_opens_at_once(db: Database, resolved: int) -> None:
    with db.session() as session:
        result = service.open_or_join(
            session,
            signal(at=RESOLVED_AT),
            SEV2_INFRA,
            owner="o",
            started_at=STARTED,
            ack_by=ACK_BY,
        )
        assert result.created and result.incident.id != resolved


def test_a_reviewed_incident_is_not_joined(db: Database, resolved: int) -> None:
    move(db, resolved, Status.REVIEWED, RESOLVED_AT + timedelta(minutes=1))
    assert triage_with_cooldown(db, 5).created


@pytest.mark.parametrize(
    ("deployed", "flapping"),
    [(RESOLVED_AT + timedelta(minutes=1), False), (RESOLVED_AT - timedelta(hours=1), True)],
)
def test_a_deploy_since_the_resolution_ends_the_cooldown(
    db: Database, resolved: int, deployed: datetime, flapping: bool
) -> None:
    # A version that came back by a deploy: its signal is about the change, not flapping.
    result = triage_with_cooldown(db, 5, deployed_at=deployed)
    assert (result.flapping, result.created) == (flapping, not flapping)
