"""Incidents over the live API: list and filter, show, ack, assign, comment, severity,
resolve; every write names its actor in the audit log."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.notify import RecordingChannel
from ripcord.store import audit
from ripcord.store.tables import AuditRow
from tests.api.conftest import Clients, raise_signal


def audit_rows(rc: Ripcord, action: str) -> list[AuditRow]:
    with rc.db.session() as session:
        query = select(AuditRow).where(AuditRow.action == action).order_by(AuditRow.id)
        return list(session.scalars(query))


def test_list_filters_newest_first_and_show(
    app: FastAPI, clock: ManualClock, client: Clients
) -> None:
    sev3 = raise_signal(app, "latency", 120.0, 50.0)  # SEV-3 infrastructure: no containment
    clock.advance(60)
    sev2 = raise_signal(app, "confidence", 0.5, 0.78)  # SEV-2 model quality: contained
    vera = client("vera")

    listed = vera.get("/v1/incidents").json()
    assert [i["id"] for i in listed] == [sev2.id, sev3.id]
    assert listed[0]["severity"] == "SEV-2" and listed[0]["status"] == "contained"
    assert listed[1]["severity"] == "SEV-3" and listed[1]["type"] == "infrastructure"

    def ids(**params: str) -> list[int]:
        r = vera.get("/v1/incidents", params=params)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()]

    assert ids(severity="SEV-3") == [sev3.id]
    assert ids(status="contained") == [sev2.id]
    assert ids(model="credit-risk", status="open") == [sev3.id]
    assert ids(model="pricing") == []
    assert ids(since="2026-01-01T00:00:30Z") == [sev2.id]
    assert ids(until="2026-01-01T00:00:30+00:00") == [sev3.id]
    assert ids(limit="1", offset="1") == [sev3.id]
    r = vera.get("/v1/incidents", params={"severity": "SEV-9", "since": "yesterday"})
    assert r.status_code == 422
    assert {p["path"] for p in r.json()["problems"]} == {"query.severity", "query.since"}

    shown = vera.get(f"/v1/incidents/{sev2.id}").json()
    assert shown["title"] == sev2.title
    kinds = [e["kind"] for e in shown["timeline"]]
    assert kinds[:2] == ["signal", "status"] and "rollback" in kinds
    assert [a["kind"] for a in shown["actions"]] == ["rollback"]
    r = vera.get("/v1/incidents/999")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_ack_assign_comment_are_audited_with_the_actor(
    rc: Ripcord, app: FastAPI, client: Clients
) -> None:
    incident = raise_signal(app, "latency", 120.0, 50.0)
    alice = client("alice")
    r = alice.post(f"/v1/incidents/{incident.id}/ack")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "acknowledged" and r.json()["acknowledged_at"]
    assert alice.post(f"/v1/incidents/{incident.id}/ack").status_code == 200  # idempotent
    r = alice.post(f"/v1/incidents/{incident.id}/assign", json={"owner": "ml-credit"})
    assert r.json()["owner"] == "ml-credit"
    r = alice.post(f"/v1/incidents/{incident.id}/comment", json={"message": "looking at p95"})
    assert r.status_code == 200
    r = alice.post(f"/v1/incidents/{incident.id}/comment", json={"message": "   "})
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "message"

    actors = {row.action: row.actor for row in audit_rows(rc, "incident.acknowledged")}
    actors |= {row.action: row.actor for row in audit_rows(rc, "incident.assign")}
    actors |= {row.action: row.actor for row in audit_rows(rc, "incident.comment")}
    assert actors == {
        "incident.acknowledged": "alice",
        "incident.assign": "alice",
        "incident.comment": "alice",
    }
    timeline = client("vera").get(f"/v1/incidents/{incident.id}").json()["timeline"]
    assert timeline[-1] == {**timeline[-1], "kind": "comment", "actor": "alice"}
    with rc.db.session() as session:
        audit.verify(session)


def test_severity_rises_at_once_and_falls_only_with_a_reason(
    rc: Ripcord, app: FastAPI, client: Clients, channel: RecordingChannel
) -> None:
    incident = raise_signal(app, "latency", 120.0, 50.0)
    alice = client("alice")
    pages = len(channel.messages)
    r = alice.post(f"/v1/incidents/{incident.id}/severity", json={"severity": "SEV-2"})
    assert r.status_code == 200 and r.json()["severity"] == "SEV-2"
    assert len(channel.messages) == pages + 1  # a rise pages the owners
    assert "severity raised from SEV-3 by alice" in channel.messages[-1].title

    r = alice.post(f"/v1/incidents/{incident.id}/severity", json={"severity": "SEV-4"})
    assert r.status_code == 422
    assert r.json()["problems"] == [
        {"path": "reason", "value": "", "message": "is required to lower SEV-2 to SEV-4"}
    ]
    r = alice.post(
        f"/v1/incidents/{incident.id}/severity",
        json={"severity": "SEV-4", "reason": "only the canary pool is slow"},
    )
    assert r.status_code == 200 and r.json()["severity"] == "SEV-4"
    lowered = audit_rows(rc, "incident.severity")[-1]
    assert (lowered.actor, lowered.reason) == ("alice", "only the canary pool is slow")
    assert (lowered.before, lowered.after) == (
        {"status": "open", "severity": "SEV-2"},
        {"status": "open", "severity": "SEV-4"},
    )


def test_resolve_needs_a_reason_and_follows_the_lifecycle(
    rc: Ripcord, app: FastAPI, client: Clients
) -> None:
    incident = raise_signal(app, "latency", 120.0, 50.0)
    alice = client("alice")
    assert alice.post(f"/v1/incidents/{incident.id}/resolve", json={}).status_code == 422
    r = alice.post(f"/v1/incidents/{incident.id}/resolve", json={"reason": "autoscaler fixed"})
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    row = audit_rows(rc, "incident.resolved")[-1]
    assert (row.actor, row.reason) == ("alice", "autoscaler fixed")
    r = alice.post(f"/v1/incidents/{incident.id}/resolve", json={"reason": "again"})
    assert r.status_code == 409 and "resolved -> resolved" in r.json()["message"]


def test_reopen_brings_a_resolved_incident_back_and_pages_its_primary(
    rc: Ripcord, app: FastAPI, client: Clients
) -> None:
    incident = raise_signal(app, "latency", 120.0, 50.0)
    alice = client("alice")
    r = alice.post(f"/v1/incidents/{incident.id}/reopen", json={"reason": "too early"})
    assert r.status_code == 409 and "open -> open" in r.json()["message"]
    alice.post(f"/v1/incidents/{incident.id}/resolve", json={"reason": "autoscaler fixed"})
    assert alice.post(f"/v1/incidents/{incident.id}/reopen", json={}).status_code == 422
    r = alice.post(f"/v1/incidents/{incident.id}/reopen", json={"reason": "p95 is back up"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["acknowledged_at"]) == ("open", None)
    row = audit_rows(rc, "incident.open")[-1]
    assert (row.actor, row.reason, row.before["status"]) == ("alice", "p95 is back up", "resolved")
