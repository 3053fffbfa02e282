"""Ripcord with a real Alertmanager posting to it and a real Prometheus scraping it, all on
loopback (Debian's prometheus-alertmanager and prometheus packages; see `daemons`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from ripcord.api import create_app
from ripcord.api.webhook_auth import WebhookAuth
from ripcord.app import Ripcord
from ripcord.drills.demo import MODEL
from ripcord.store.tables import Incident, TimelineEntry
from tests.api import daemons
from tests.api.conftest import Clients, running, state
from tests.api.test_ingest import inference

pytestmark = pytest.mark.slow
WITHIN = 15.0  # seconds: a few of Alertmanager's 1 s group intervals, or scrapes


def push(alertmanager: str, *alerts: dict[str, Any]) -> None:
    r = httpx.post(f"{alertmanager}/api/v2/alerts", json=list(alerts), timeout=5.0)
    assert r.status_code == 200, r.text


def an_alert(instance: str, started: datetime, ended: datetime | None = None) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {
            "alertname": "RipcordLatency",
            "model": MODEL,
            "severity": "warning",
            "instance": instance,
        },
        "annotations": {"summary": f"p95 latency over target on {instance}"},
        "startsAt": started.isoformat(),
        "generatorURL": "http://127.0.0.1:9090/graph",
    }
    if ended is not None:
        alert["endsAt"] = ended.isoformat()
    return alert


def incidents(app: FastAPI) -> list[Incident]:
    with state(app).runtime() as rc, rc.db.session() as session:
        return list(session.scalars(select(Incident).order_by(Incident.id)))


def alert_notes(app: FastAPI) -> list[str]:
    with state(app).runtime() as rc, rc.db.session() as session:
        query = select(TimelineEntry.message).where(TimelineEntry.kind == "alert")
        return list(session.scalars(query.order_by(TimelineEntry.id)))


def counted(app: FastAPI, outcome: str) -> float:
    registry = state(app).metrics.registry
    value = registry.get_sample_value("ripcord_alertmanager_alerts_total", {"outcome": outcome})
    return value or 0.0


def test_alertmanager_notifications_become_one_incident(
    app: FastAPI, server: str, tokens: dict[str, str], tmp_path: Path
) -> None:
    args, url = daemons.alertmanager(tmp_path, f"{server}/v1/alertmanager", tokens["alice"])
    started = datetime.now(UTC) - timedelta(minutes=1)
    with daemons.running(args, url=url, log=tmp_path / "alertmanager.log"):
        push(url, an_alert("a", started))
        [incident] = daemons.poll(lambda: incidents(app), within=WITHIN, what="an incident")
        assert (incident.model, incident.severity, incident.incident_type) == (
            MODEL,
            2,  # severity=warning → SEV-3 by the default mapping
            "infrastructure",
        )
        # The same alert again, and Alertmanager's own repeats: nothing is added.
        push(url, an_alert("a", started))
        daemons.poll(lambda: counted(app, "repeated") >= 1, within=WITHIN, what="a repeat")
        assert len(incidents(app)) == 1 and len(alert_notes(app)) == 1
        # A new alert of the same group joins the incident's timeline.
        push(url, an_alert("b", started))
        daemons.poll(lambda: len(alert_notes(app)) == 2, within=WITHIN, what="the 2nd alert")
        assert [i.id for i in incidents(app)] == [incident.id]
        # Both resolve (an end in the past): recorded, and the incident resolves.
        ended = datetime.now(UTC) - timedelta(seconds=1)
        push(url, an_alert("a", started, ended), an_alert("b", started, ended))
        daemons.poll(
            lambda: incidents(app)[0].status == "resolved", within=WITHIN, what="resolution"
        )
    notes = alert_notes(app)
    assert sum(" resolved at " in n for n in notes) == 2
    assert sum(" firing " in n for n in notes) == 2
    assert len(incidents(app)) == 1


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5.0)
    assert r.status_code == 200, r.text
    result: list[dict[str, Any]] = r.json()["data"]["result"]
    return result


def value(prometheus: str, promql: str) -> float | None:
    result = query(prometheus, promql)
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_metrics_with_a_token(
    server: str, client: Clients, tokens: dict[str, str], tmp_path: Path
) -> None:
    r = client("alice").post("/v1/events", json={"events": [inference(i) for i in range(3)]})
    assert r.status_code == 200
    target = server.removeprefix("http://")
    args, url = daemons.prometheus(tmp_path, target, tokens["vera"])
    with daemons.running(args, url=url, log=tmp_path / "prometheus.log"):
        up = 'up{job="ripcord"}'
        daemons.poll(lambda: value(url, up) == 1.0, within=WITHIN, what=f"{up} == 1")
        events = f'ripcord_events_ingested_total{{job="ripcord",kind="inference",model="{MODEL}"}}'
        daemons.poll(lambda: value(url, events) == 3.0, within=WITHIN, what=events)
        [open_sev3] = query(url, 'ripcord_open_incidents{severity="SEV-3"}')
        assert open_sev3["metric"]["instance"] == target


def test_alertmanager_posts_with_the_webhooks_own_bearer_token(
    rc: Ripcord, tokens: dict[str, str], tmp_path: Path
) -> None:
    """Configured with a webhook credential, the receiver takes Alertmanager's
    `http_config.authorization` with that shared token, and no API token instead."""
    shared = "alertmanager-webhook-token-5d1e"
    app = create_app(rc, alertmanager_auth=WebhookAuth(bearer_token=shared))
    with running(app) as server:
        r = httpx.post(
            f"{server}/v1/alertmanager",
            json={},
            headers={"Authorization": f"Bearer {tokens['alice']}"},
        )
        assert r.status_code == 401, r.text
        args, url = daemons.alertmanager(tmp_path, f"{server}/v1/alertmanager", shared)
        with daemons.running(args, url=url, log=tmp_path / "alertmanager.log"):
            push(url, an_alert("a", datetime.now(UTC) - timedelta(minutes=1)))
            [incident] = daemons.poll(lambda: incidents(app), within=WITHIN, what="an incident")
    assert incident.model == MODEL
    with rc.db.session() as session:
        query = select(TimelineEntry.actor).where(TimelineEntry.kind == "alert")
        actors = set(session.scalars(query))
    assert actors == {"alertmanager"}  # the webhook's actor, not a token's name
