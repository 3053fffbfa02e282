"""POST /v1/alertmanager in-process: validation, label mapping, dedup, grouping, auth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from ripcord.api import create_app
from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills.demo import MODEL
from ripcord.notify import RecordingChannel
from ripcord.notify.base import MessageKind
from ripcord.store.tables import AlertGroup, AuditRow, ExternalAlert, Incident, TimelineEntry
from tests.api.conftest import raise_signal
from tests.conftest import sop_data

GROUP = '{}:{alertname="RipcordLatency"}'
STARTS = "2026-01-01T00:00:00.123456789Z"  # Alertmanager sends nanoseconds
NO_END = "0001-01-01T00:00:00Z"


def alert(
    fingerprint: str = "a1", *, status: str = "firing", starts: str = STARTS, **labels: str
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "RipcordLatency", "model": MODEL, "severity": "warning", **labels},
        "annotations": {"summary": "p95 latency over 2 s"},
        "startsAt": starts,
        "endsAt": "2026-01-01T00:05:00Z" if status == "resolved" else NO_END,
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up",
        "fingerprint": fingerprint,
    }


def notification(*alerts: dict[str, Any], group: str = GROUP, **fields: Any) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "ripcord",
        "groupLabels": {"alertname": "RipcordLatency"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": list(alerts),
        **fields,
    }


@pytest.fixture
def http(app: FastAPI, tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {tokens['alice']}"}) as client:
        yield client


def post(http: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    r = http.post("/v1/alertmanager", json=body)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def incidents(rc: Ripcord) -> list[Incident]:
    with rc.db.session() as session:
        return list(session.scalars(select(Incident).order_by(Incident.id)))


def timeline(rc: Ripcord, incident_id: int, kind: str = "alert") -> list[str]:
    with rc.db.session() as session:
        query = select(TimelineEntry.message).where(
            TimelineEntry.incident_id == incident_id, TimelineEntry.kind == kind
        )
        return list(session.scalars(query.order_by(TimelineEntry.id)))


def test_a_firing_alert_opens_one_incident_with_the_mapped_model_and_severity(
    rc: Ripcord, http: TestClient, channel: RecordingChannel
) -> None:
    receipt = post(http, notification(alert("a1")))
    [incident] = incidents(rc)
    assert receipt == {
        "group_key": GROUP,
        "incident_id": incident.id,
        "new": ["a1"],
        "repeated": [],
        "resolved": [],
        "ignored": [],
        "incident_resolved": False,
    }
    assert (incident.model, incident.severity, incident.incident_type) == (
        MODEL,
        2,
        "infrastructure",
    )
    assert incident.owner == "platform"  # the SOP's owner of infrastructure incidents
    assert incident.status == "open"  # SEV-3: open and notify, no automatic action
    assert timeline(rc, incident.id) == [
        "alert RipcordLatency firing (SEV-3 from severity=warning): p95 latency over 2 s"
    ]
    [signal] = timeline(rc, incident.id, "signal")
    assert signal.startswith("SEV-3 infrastructure: external_alert RipcordLatency=2")
    assert [m.kind for m in channel.messages] == [MessageKind.PAGE]


def test_the_actor_is_the_token_and_every_write_is_audited(rc: Ripcord, http: TestClient) -> None:
    post(http, notification(alert("a1")))
    post(http, notification(alert("a1", status="resolved")))
    with rc.db.session() as session:
        rows = session.scalars(select(AuditRow).where(AuditRow.action.like("alert.%")))
        assert [(r.actor, r.action) for r in rows] == [
            ("alice", "alert.firing"),
            ("alice", "alert.resolved"),
        ]


@pytest.mark.parametrize(
    ("label", "severity", "contained"),
    [("critical", 4, True), ("ERROR", 3, True), ("SEV-2", 3, True), ("info", 1, False)],
)
def test_the_severity_label_maps_through_the_sop(
    rc: Ripcord, http: TestClient, label: str, severity: int, contained: bool
) -> None:
    post(http, notification(alert("a1", severity=label)))
    [incident] = incidents(rc)
    assert incident.severity == severity
    # SEV-1 and SEV-2 contain at once, as for any detector's signal
    assert (incident.contained_at is not None) is contained


def test_a_repeated_alert_adds_nothing(rc: Ripcord, http: TestClient) -> None:
    first = post(http, notification(alert("a1")))
    again = post(http, notification(alert("a1")))
    assert (first["new"], again["new"], again["repeated"]) == (["a1"], [], ["a1"])
    [incident] = incidents(rc)
    assert len(timeline(rc, incident.id)) == 1
    assert len(timeline(rc, incident.id, "signal")) == 1


def test_a_new_fingerprint_in_the_group_joins_its_incident(rc: Ripcord, http: TestClient) -> None:
    post(http, notification(alert("a1")))
    receipt = post(http, notification(alert("a1"), alert("b2", instance="x", severity="error")))
    assert (receipt["new"], receipt["repeated"]) == (["b2"], ["a1"])
    [incident] = incidents(rc)
    assert receipt["incident_id"] == incident.id
    assert incident.severity == 3  # raised to SEV-2 by the worse alert
    assert len(timeline(rc, incident.id)) == 2
    with rc.db.session() as session:
        [group] = session.scalars(select(AlertGroup))
        assert (group.group_key, group.incident_id) == (GROUP, incident.id)
        fingerprints = session.scalars(select(ExternalAlert.fingerprint).order_by(ExternalAlert.id))
        assert list(fingerprints) == ["a1", "b2"]


def test_a_group_keeps_its_incident_even_for_another_model(
    sop_file: Path, tmp_path: Path, clock: ManualClock
) -> None:
    data = sop_data()
    data["models"]["pricing"] = {"owner": "ml-credit"}
    data["alertmanager"] = {"model_label": "service", "default_model": MODEL}
    sop_file.write_text(yaml.safe_dump(data))
    rc = Ripcord.open(sop_file, url=f"sqlite:///{tmp_path / 'two.db'}", home=tmp_path, clock=clock)
    try:
        with TestClient(create_app(rc, tokens_required=False)) as client:
            post(client, notification(alert("a1")))  # no service label: the default model
            # another model's alert in the same group: the group still maps to one incident
            receipt = post(client, notification(alert("c3", service="pricing")))
        [incident] = incidents(rc)
        assert receipt["new"] == ["c3"] and incident.model == MODEL
    finally:
        rc.close()


def test_all_alerts_resolved_resolves_the_incident(
    rc: Ripcord, http: TestClient, channel: RecordingChannel
) -> None:
    post(http, notification(alert("a1"), alert("b2", instance="x")))
    partly = post(http, notification(alert("a1", status="resolved"), alert("b2", instance="x")))
    assert partly["resolved"] == ["a1"] and not partly["incident_resolved"]
    assert incidents(rc)[0].status == "open"
    done = post(
        http,
        notification(alert("a1", status="resolved"), alert("b2", status="resolved", instance="x")),
    )
    assert (done["resolved"], done["repeated"], done["incident_resolved"]) == (["b2"], ["a1"], True)
    [incident] = incidents(rc)
    assert incident.status == "resolved"
    assert (
        timeline(rc, incident.id)[-1]
        == "alert RipcordLatency resolved at 2026-01-01T00:05:00+00:00"
    )
    assert timeline(rc, incident.id, "status") == [
        "open → resolved: every Alertmanager alert on the incident has resolved"
    ]
    assert channel.messages[-1].kind is MessageKind.RESOLVED


def test_a_refiring_alert_after_the_cooldown_opens_a_new_incident(
    rc: Ripcord, http: TestClient, clock: ManualClock
) -> None:
    post(http, notification(alert("a1")))
    post(http, notification(alert("a1", status="resolved")))
    clock.advance(rc.sop.triage.cooldown_minutes * 60 + 1)
    receipt = post(http, notification(alert("a1", starts="2026-01-02T00:00:00Z")))
    first, second = incidents(rc)
    assert (first.status, second.status) == ("resolved", "open")
    assert receipt["new"] == ["a1"] and receipt["incident_id"] == second.id
    with rc.db.session() as session:
        [group] = session.scalars(select(AlertGroup))
        assert group.incident_id == second.id  # the group follows its new incident


def test_a_refiring_alert_within_the_cooldown_does_not_reopen(
    rc: Ripcord, http: TestClient, channel: RecordingChannel
) -> None:
    post(http, notification(alert("a1")))
    post(http, notification(alert("a1", status="resolved")))
    pages = len(channel.messages)
    receipt = post(http, notification(alert("a1", starts="2026-01-01T00:10:00Z")))
    [incident] = incidents(rc)
    assert receipt["new"] == ["a1"] and incident.status == "resolved"
    assert len(timeline(rc, incident.id)) == 3  # fired, resolved, fired again: recorded
    assert len(channel.messages) == pages  # flapping: nobody is paged again


def test_a_resolution_for_an_unknown_group_is_ignored(rc: Ripcord, http: TestClient) -> None:
    receipt = post(http, notification(alert("a1", status="resolved")))
    assert (receipt["ignored"], receipt["incident_id"]) == (["a1"], None)
    assert incidents(rc) == []


def test_an_incident_with_detector_signals_stays_open(
    app: FastAPI, rc: Ripcord, http: TestClient
) -> None:
    detected = raise_signal(app, "latency", 400.0, 50.0)  # SEV-3 infrastructure, same key
    receipt = post(http, notification(alert("a1")))
    assert receipt["incident_id"] == detected.id
    resolved = post(http, notification(alert("a1", status="resolved")))
    assert not resolved["incident_resolved"]
    [incident] = incidents(rc)
    assert incident.status == "open"
    assert "detectors raised 1 signal(s) on it too" in timeline(rc, incident.id)[-1]


def test_a_contained_incident_waits_for_a_person(rc: Ripcord, http: TestClient) -> None:
    post(http, notification(alert("a1", severity="critical")))
    post(http, notification(alert("a1", severity="critical", status="resolved")))
    [incident] = incidents(rc)
    assert incident.status == "contained"
    assert "credit-risk's traffic is held off its serving version" in timeline(rc, incident.id)[-1]


def test_truncated_alerts_are_noted(rc: Ripcord, http: TestClient) -> None:
    post(http, notification(alert("a1"), truncatedAlerts=7))
    [incident] = incidents(rc)
    assert "left 7 alert(s) of the group out" in timeline(rc, incident.id)[-1]


def test_a_bad_notification_names_each_field_and_stores_nothing(
    rc: Ripcord, http: TestClient
) -> None:
    bad = notification(alert("a1"), alert("b2", model="nope"), alert("c3"))
    del bad["alerts"][2]["labels"]["model"]
    r = http.post("/v1/alertmanager", json=bad)
    assert r.status_code == 422
    problems = {(p["path"], p["value"]) for p in r.json()["problems"]}
    assert problems == {("alerts[1].labels.model", "nope"), ("alerts[2].labels.model", None)}
    assert incidents(rc) == []


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda b: b.update(version="3"), "version"),
        (lambda b: b.pop("groupKey"), "groupKey"),
        (lambda b: b.update(alerts=[]), "alerts"),
        (lambda b: b["alerts"][0].update(status="pending"), "alerts[0].status"),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda b: b["alerts"][0].update(endsAt="2026-01-01T00:00:00"), "alerts[0].endsAt"),
        (lambda b: b["alerts"][0].update(endsAt="0001-01-01T00:00:00+01:00"), "alerts[0].endsAt"),
        (lambda b: b["alerts"][0].pop("fingerprint"), "alerts[0].fingerprint"),
        (lambda b: b["alerts"][0]["labels"].update(model=1), "alerts[0].labels.model"),
        (lambda b: b["alerts"][0]["labels"].update(version="v" * 101), "alerts[0].labels.version"),
        (lambda b: b.update(truncatedAlerts=-1), "truncatedAlerts"),
    ],
)
def test_payload_validation_names_the_bad_field(
    rc: Ripcord, http: TestClient, change: Any, path: str
) -> None:
    body = notification(alert("a1"))
    change(body)
    r = http.post("/v1/alertmanager", json=body)
    assert r.status_code == 422, r.text
    assert [p["path"] for p in r.json()["problems"]] == [path]
    assert incidents(rc) == []


def test_unknown_fields_from_newer_senders_are_ignored(rc: Ripcord, http: TestClient) -> None:
    body = notification(alert("a1"), orgId=1)
    body["alerts"][0]["silenceURL"] = "http://127.0.0.1:9093/#/silences/new"
    assert post(http, body)["new"] == ["a1"]


def test_the_receiver_needs_a_responder_token(app: FastAPI, tokens: dict[str, str]) -> None:
    body = notification(alert("a1"))
    with TestClient(app) as client:
        assert client.post("/v1/alertmanager", json=body).status_code == 401
        viewer = {"Authorization": f"Bearer {tokens['vera']}"}
        assert client.post("/v1/alertmanager", json=body, headers=viewer).status_code == 403
        wrong = {"Authorization": "Bearer rcd_not-a-token"}
        assert client.post("/v1/alertmanager", json=body, headers=wrong).status_code == 401


def test_without_auth_the_actor_header_names_the_caller(rc: Ripcord) -> None:
    with TestClient(create_app(rc, tokens_required=False)) as client:
        r = client.post(
            "/v1/alertmanager",
            json=notification(alert("a1")),
            headers={"X-Ripcord-Actor": "alertmanager"},
        )
    assert r.status_code == 200
    with rc.db.session() as session:
        actors = session.scalars(select(AuditRow.actor).where(AuditRow.action == "alert.firing"))
        assert list(actors) == ["alertmanager"]


def test_alert_outcomes_are_counted(app: FastAPI, http: TestClient) -> None:
    post(http, notification(alert("a1")))
    post(http, notification(alert("a1")))
    registry = app.state.ripcord.metrics.registry
    for outcome, count in (("new", 1), ("repeated", 1)):
        sample = registry.get_sample_value(
            "ripcord_alertmanager_alerts_total", {"outcome": outcome}
        )
        assert sample == count
    signals = {"model": MODEL, "detector": "alertmanager", "family": "external_alert"}
    assert registry.get_sample_value("ripcord_signals_total", signals) == 1
