"""Tokens and roles: 401 without a valid token, 403 below the role, admin-only tokens."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from ripcord import access
from ripcord.api import create_app
from ripcord.app import Ripcord
from ripcord.cli import main
from ripcord.store.db import ENV_URL, Database
from ripcord.store.tables import ApiToken, AuditRow
from tests.api.conftest import Clients, raise_signal


def test_a_request_without_a_valid_token_is_401(client: Clients, server: str) -> None:
    r = client(None).get("/v1/incidents")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"] == "unauthorized"
    for header in ("Bearer rcd_not-a-token", "Basic YWxpY2U6cHc="):
        r = client(None).get("/v1/incidents", headers={"Authorization": header})
        assert r.status_code == 401, header
    assert client(None).get("/healthz").status_code == 200  # liveness needs no token


def test_a_viewer_reads_but_cannot_write(app: FastAPI, client: Clients) -> None:
    incident = raise_signal(app, "latency", 120.0, 50.0)
    vera = client("vera")
    assert vera.get(f"/v1/incidents/{incident.id}").status_code == 200
    r = vera.post(f"/v1/incidents/{incident.id}/ack")
    assert r.status_code == 403
    assert r.json()["message"] == (
        "role: token 'vera' has role 'viewer'; this needs responder or above"
    )
    assert vera.post("/v1/events", json={"events": []}).status_code == 403
    assert client("alice").get("/v1/tokens").status_code == 403


def test_tokens_are_stored_hashed_and_managed_by_admins(
    rc: Ripcord, client: Clients, tokens: dict[str, str]
) -> None:
    root = client("root")
    r = root.post("/v1/tokens", json={"name": "prom", "role": "viewer"})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    with rc.db.session() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == "prom")).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in str([c for c in session.execute(select(ApiToken)).all()])
    prom = client(None)
    prom.headers["Authorization"] = f"Bearer {token}"
    assert prom.get("/metrics").status_code == 200
    assert root.post("/v1/tokens", json={"name": "prom", "role": "admin"}).status_code == 422
    assert root.post("/v1/tokens", json={"name": "ripcord", "role": "admin"}).status_code == 422

    r = root.delete("/v1/tokens/prom")
    assert r.status_code == 200 and r.json()["revoked_at"]
    r = prom.get("/metrics")
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    names = {t["name"]: t for t in root.get("/v1/tokens").json()}
    assert set(names) >= {"root", "vera", "prom"} and "token" not in names["vera"]
    with rc.db.session() as session:
        actors = session.execute(
            select(AuditRow.action, AuditRow.actor).where(AuditRow.subject == "token:prom")
        ).all()
    assert [tuple(a) for a in actors] == [("token.create", "root"), ("token.revoke", "root")]


def test_no_auth_mode_takes_the_actor_from_a_header(rc: Ripcord) -> None:
    app = create_app(rc, tokens_required=False)
    incident = raise_signal(app, "latency", 120.0, 50.0)
    with TestClient(app) as local:
        r = local.post(f"/v1/incidents/{incident.id}/ack", headers={"X-Ripcord-Actor": "sam"})
        assert r.status_code == 200
        r = local.post(f"/v1/incidents/{incident.id}/comment", json={"message": "hi"})
        assert r.status_code == 200
        r = local.get("/v1/incidents", headers={"X-Ripcord-Actor": "ripcord"})
        assert r.status_code == 422  # nobody may write as the automation
    with rc.db.session() as session:
        rows = session.execute(
            select(AuditRow.action, AuditRow.actor).where(AuditRow.actor.in_(["sam", "local"]))
        ).all()
    assert [tuple(a) for a in rows] == [
        ("incident.acknowledged", "sam"),
        ("incident.comment", "local"),
    ]


def test_token_create_on_the_command_line_prints_the_token_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_URL, f"sqlite:///{tmp_path / 'cli.db'}")
    assert main(["token", "create", "prom", "--role", "viewer"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("rcd_")
    assert main(["token", "create", "nobody", "--role", "boss"]) == 1
    assert "'boss' is not one of viewer, responder, approver, admin" in capsys.readouterr().out
    db = Database.open()
    try:
        with db.session() as session:
            row = session.scalars(select(ApiToken)).one()
            assert (row.name, row.role) == ("prom", "viewer")
            assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
            assert access.authenticate(session, token, at=row.created_at).name == "prom"
    finally:
        db.dispose()
    assert main(["token", "revoke", "prom"]) == 0
