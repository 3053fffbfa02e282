"""GET /metrics: the app-owned registry, parsed as Prometheus would."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from ripcord.api import create_app
from ripcord.app import Ripcord
from tests.api.conftest import Clients, raise_signal
from tests.api.test_ingest import inference


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_ingestion_signals_incidents_and_deliveries(
    app: FastAPI, client: Clients
) -> None:
    label = {
        "kind": "label",
        "model": "credit-risk",
        "request_id": "r0",
        "label": 1,
        "timestamp": "2026-01-01T00:00:00Z",
    }
    r = client("alice").post("/v1/events", json={"events": [inference(0), inference(1), label]})
    assert r.status_code == 200
    raise_signal(app, "confidence", 0.5, 0.78)
    r = client("vera").get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    got = samples(r.text)
    m = "credit-risk"
    assert got[("ripcord_events_ingested_total", (("kind", "inference"), ("model", m)))] == 2
    assert got[("ripcord_events_ingested_total", (("kind", "label"), ("model", m)))] == 1
    assert got[("ripcord_ingest_batch_duration_seconds_count", ())] == 1
    assert got[("ripcord_open_incidents", (("severity", "SEV-2"),))] == 1
    assert got[("ripcord_open_incidents", (("severity", "SEV-1"),))] == 0
    # no good version to roll back to: the rollback escalated at once
    assert got[("ripcord_actions", (("kind", "rollback"), ("status", "escalated")))] == 1
    assert (
        got[
            (
                "ripcord_action_duration_seconds_count",
                (("kind", "rollback"), ("status", "escalated")),
            )
        ]
        == 1
    )
    assert got[("ripcord_notifications_total", (("channel", "console"), ("ok", "true")))] >= 1
    assert got[("ripcord_notification_duration_seconds_count", (("channel", "console"),))] >= 1
    assert got[("ripcord_notifications_queued", ())] == 0


def test_signals_from_detectors_are_counted(rc: Ripcord, client: Clients) -> None:
    # Slow answers past the SOP's p95 target of 50 ms: the latency detector fires.
    events = [inference(i, latency_ms=400.0) for i in range(400)]
    r = client("alice").post("/v1/events", json={"events": events})
    assert r.status_code == 200
    fired = {s["detector"] for s in r.json()["signals"]}
    assert "latency" in fired
    got = samples(client("vera").get("/metrics").text)
    key = (
        "ripcord_signals_total",
        (("detector", "latency"), ("family", "latency"), ("model", "credit-risk")),
    )
    assert got[key] == sum(1 for s in r.json()["signals"] if s["detector"] == "latency")


def test_each_app_has_its_own_registry(rc: Ripcord) -> None:
    first, second = create_app(rc), create_app(rc)
    assert first.state.ripcord.metrics.registry is not second.state.ripcord.metrics.registry
