"""Rollback approvals over the live API: the role, the SOP's approvers, the proposer rule."""

from __future__ import annotations

from fastapi import FastAPI

from ripcord.app import Ripcord
from ripcord.notify import RecordingChannel
from ripcord.respond.breaker import BreakerState
from tests.api.conftest import Clients, good_v1, raise_signal

MODEL = "credit-risk"


def test_the_named_approver_approves_a_held_rollback(
    rc: Ripcord, app: FastAPI, client: Clients
) -> None:
    good_v1(rc)
    incident = raise_signal(app, "confidence", 0.5, 0.78)  # SEV-2: contain, hold for approval
    held = client("vera").get("/v1/actions", params={"status": "awaiting_approval"}).json()
    assert [(a["incident_id"], a["target"], a["proposed_by"]) for a in held] == [
        (incident.id, "v1", "ripcord")
    ]
    action_id = held[0]["id"]

    r = client("alice").post(f"/v1/actions/{action_id}/approve")  # a responder token
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = client("dave").post(f"/v1/actions/{action_id}/approve")  # approver role, not in SOP
    assert r.status_code == 409 and "'dave' is not one of carol" in r.json()["message"]

    r = client("carol").post(f"/v1/actions/{action_id}/approve")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["approved_by"]) == ("verifying", "carol")
    assert r.json()["approvals"] == ["carol"]
    assert rc.routes.state(MODEL).serving == "v1"
    assert rc.routes.state(MODEL).breaker is BreakerState.HALF_OPEN
    r = client("carol").post(f"/v1/actions/{action_id}/approve")
    assert r.status_code == 409  # no longer awaiting approval
    assert client("vera").get(f"/v1/actions/{action_id}").json()["status"] == "verifying"


def test_the_proposer_cannot_approve_their_own_rollback(
    rc: Ripcord, app: FastAPI, client: Clients
) -> None:
    good_v1(rc)
    incident = raise_signal(app, "latency", 120.0, 50.0)  # SEV-3: no automatic rollback
    carol = client("carol")
    r = carol.post(f"/v1/incidents/{incident.id}/rollback")
    assert r.status_code == 200, r.text
    action = r.json()
    assert (action["status"], action["proposed_by"], action["target"]) == (
        "awaiting_approval",
        "carol",
        "v1",
    )
    again = carol.post(f"/v1/incidents/{incident.id}/rollback").json()
    assert again["id"] == action["id"]  # proposing twice is the same proposal

    r = carol.post(f"/v1/actions/{action['id']}/approve")
    assert r.status_code == 409
    assert r.json() == {
        "error": "conflict",
        "message": "approver: 'carol' proposed this rollback and cannot approve it",
        "problems": [],
    }


def test_reject_keeps_the_fallback_and_tells_the_owners(
    rc: Ripcord, app: FastAPI, client: Clients, channel: RecordingChannel
) -> None:
    good_v1(rc)
    raise_signal(app, "confidence", 0.5, 0.78)
    action_id = client("vera").get("/v1/actions").json()[0]["id"]
    carol = client("carol")
    assert carol.post(f"/v1/actions/{action_id}/reject", json={}).status_code == 422
    r = carol.post(f"/v1/actions/{action_id}/reject", json={"reason": "v1 lacks the fix"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert rc.routes.state(MODEL).breaker is BreakerState.OPEN
    assert "rollback to v1 rejected by carol: v1 lacks the fix" in channel.messages[-1].title
    assert carol.post(f"/v1/actions/{action_id}/approve").status_code == 409
    listed = client("vera").get("/v1/actions", params={"status": "rejected"}).json()
    assert [a["id"] for a in listed] == [action_id]
    r = client("vera").get("/v1/actions", params={"status": "maybe"})
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "query.status"
    assert client("vera").get("/v1/actions/404").status_code == 404
