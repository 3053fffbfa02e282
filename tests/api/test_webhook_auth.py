"""The Alertmanager receiver's own credential (bearer token or HMAC signature), over real
HTTP to a live server: wrong or missing is a 401 naming what is wrong, and stores nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, select

from ripcord.api import create_app
from ripcord.api.webhook_auth import WebhookAuth
from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.errors import InputError
from ripcord.notify.webhook import sign
from ripcord.sop.alertmanager import WebhookAuthSpec
from ripcord.store.tables import ExternalAlert, Incident
from tests.api.conftest import running
from tests.api.test_alertmanager import alert, notification

TOKEN = "am-shared-token-7f3a"
SECRET = "am-hmac-secret-91c2"
RECEIVER = "/v1/alertmanager"


def stored(rc: Ripcord) -> tuple[int, int]:
    with rc.db.session() as session:
        alerts = session.scalar(select(func.count(ExternalAlert.id))) or 0
        incidents = session.scalar(select(func.count(Incident.id))) or 0
    return alerts, incidents


@pytest.fixture
def bearer_server(rc: Ripcord) -> Iterator[str]:
    with running(create_app(rc, alertmanager_auth=WebhookAuth(bearer_token=TOKEN))) as url:
        yield url


def test_a_bearer_webhook_takes_its_token_and_nothing_else(
    rc: Ripcord, bearer_server: str, tokens: dict[str, str]
) -> None:
    body = notification(alert())
    cases = {
        "missing": {},
        "wrong": {"Authorization": "Bearer not-the-token"},
        "an API token": {"Authorization": f"Bearer {tokens['alice']}"},
        "basic": {"Authorization": f"Basic {TOKEN}"},
    }
    for case, headers in cases.items():
        r = httpx.post(bearer_server + RECEIVER, json=body, headers=headers)
        assert r.status_code == 401, case
        assert r.json()["error"] == "unauthorized"
        assert r.json()["message"].startswith("authorization: "), r.json()
        assert TOKEN not in r.text
    assert stored(rc) == (0, 0)
    r = httpx.post(
        bearer_server + RECEIVER, json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["new"] == ["a1"]
    assert stored(rc) == (1, 1)


@pytest.fixture
def hmac_rc(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, sop_file: Path
) -> Iterator[Ripcord]:
    """A runtime whose SOP file configures the receiver's HMAC secret by variable name."""
    from tests.conftest import sop_data

    data = sop_data()
    data["alertmanager"] = {"auth": {"hmac_secret_env": "AM_SECRET", "replay_window_s": 60}}
    (tmp_path / "hmac").mkdir()
    path = tmp_path / "hmac" / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    (tmp_path / "hmac" / "golden").symlink_to(tmp_path / "golden")
    monkeypatch.setenv("AM_SECRET", SECRET)
    home = tmp_path / "hmac"
    other = Ripcord.open(path, url=f"sqlite:///{home / 'rc.db'}", home=home, clock=clock)
    yield other
    other.close()


def signed(body: bytes, stamp: int, secret: str = SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), str(stamp).encode() + b"." + body, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-Ripcord-Timestamp": str(stamp),
        "X-Ripcord-Signature": f"sha256={mac.hexdigest()}",
    }


def test_an_hmac_webhook_checks_signature_and_replay_window(
    hmac_rc: Ripcord, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    now = int(clock.now().timestamp())
    body = json.dumps(notification(alert())).encode()
    tampered = body.replace(b"warning", b"critical")
    refused = {
        "X-Ripcord-Signature: missing": {"X-Ripcord-Timestamp": str(now)},
        "X-Ripcord-Timestamp: missing": {"X-Ripcord-Signature": "sha256=00"},
        "X-Ripcord-Signature: does not match": signed(body, now, secret="another"),
        "X-Ripcord-Timestamp: 'soon'": {**signed(body, now), "X-Ripcord-Timestamp": "soon"},
        "the replay window is 60 s": signed(body, now - 61),
    }
    with running(create_app(hmac_rc)) as url:
        for expected, headers in refused.items():
            r = httpx.post(url + RECEIVER, content=body, headers=headers)
            assert r.status_code == 401, expected
            assert expected in r.json()["message"], r.json()["message"]
        mac = signed(body, now)  # signed over the body: another body under it is refused
        r = httpx.post(url + RECEIVER, content=tampered, headers=mac)
        assert r.status_code == 401 and "does not match" in r.json()["message"]
        assert stored(hmac_rc) == (0, 0)
        r = httpx.post(url + RECEIVER, content=body, headers=signed(body, now - 59))
        assert r.status_code == 200, r.text
        assert stored(hmac_rc) == (1, 1)
        clock.advance(120)  # the same signed request, captured and replayed later
        r = httpx.post(url + RECEIVER, content=body, headers=signed(body, now - 59))
        assert r.status_code == 401 and "replay window" in r.json()["message"]
    assert SECRET not in caplog.text


def test_ripcords_own_webhook_signature_is_accepted(hmac_rc: Ripcord, clock: ManualClock) -> None:
    """One Ripcord's webhook channel can post to another's receiver: same scheme."""
    stamp = int(clock.now().timestamp())
    text = json.dumps(notification(alert()))
    headers = {
        "Content-Type": "application/json",
        "X-Ripcord-Timestamp": str(stamp),
        "X-Ripcord-Signature": sign(SECRET, stamp, text),
    }
    with running(create_app(hmac_rc)) as url:
        assert httpx.post(url + RECEIVER, content=text, headers=headers).status_code == 200


def test_both_credentials_configured_both_are_required(rc: Ripcord, clock: ManualClock) -> None:
    auth = WebhookAuth(bearer_token=TOKEN, hmac_secret=SECRET)
    body = json.dumps(notification(alert())).encode()
    stamp = int(clock.now().timestamp())
    with running(create_app(rc, alertmanager_auth=auth)) as url:
        only_mac = httpx.post(url + RECEIVER, content=body, headers=signed(body, stamp))
        assert only_mac.status_code == 401
        only_bearer = httpx.post(
            url + RECEIVER, content=body, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert only_bearer.status_code == 401
        both = {**signed(body, stamp), "Authorization": f"Bearer {TOKEN}"}
        assert httpx.post(url + RECEIVER, content=body, headers=both).status_code == 200


def test_secrets_stay_secret_and_unset_variables_are_named() -> None:
    auth = WebhookAuth(bearer_token=TOKEN, hmac_secret=SECRET)
    assert TOKEN not in repr(auth) and SECRET not in repr(auth) and TOKEN not in str(auth)
    spec = WebhookAuthSpec(bearer_token_env="AM_TOKEN", hmac_secret_env="AM_SECRET")
    with pytest.raises(InputError) as info:
        WebhookAuth.from_spec(spec, environ={"AM_SECRET": " "})
    assert {(p.path, p.value, p.message) for p in info.value.problems} == {
        ("alertmanager.auth.bearer_token_env", "AM_TOKEN", "is not set"),
        ("alertmanager.auth.hmac_secret_env", "AM_SECRET", "is empty"),
    }
    made = WebhookAuth.from_spec(spec, environ={"AM_TOKEN": TOKEN, "AM_SECRET": SECRET})
    assert made.bearer_token == SecretStr(TOKEN) and made.replay_window_s == 300


@pytest.mark.parametrize(
    "fields",
    [{}, {"bearer_token_env": "AM_TOKEN", "replay_window_s": 0}, {"bearer_env": "X"}],
)
def test_the_sop_section_is_validated(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        WebhookAuthSpec(**fields)


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="bearer_token: must not be empty"):
        WebhookAuth(bearer_token=SecretStr("  "))
    with pytest.raises(ValidationError, match="neither bearer_token nor hmac_secret"):
        WebhookAuth()
