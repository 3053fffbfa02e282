"""Dead letters: stored after a channel's last retry, listed, replayed once the receiver is
back; real SQLite, real HTTP receivers on loopback, and the CLI commands."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import select

from ripcord.cli import main
from ripcord.clock import ManualClock
from ripcord.errors import InputError, NotFoundError
from ripcord.notify import (
    Notification,
    Notifier,
    PagerDutyChannel,
    RecordingChannel,
    SlackChannel,
)
from ripcord.notify.deadletter import (
    as_dict,
    dead_letters,
    notification_from,
    recorder,
    replay,
    replay_all,
    store,
)
from ripcord.store import audit
from ripcord.store.db import Database
from ripcord.store.tables import AuditRow, DeadLetter, Incident
from tests.conftest import sop_data


def no_sleep(seconds: float) -> None:
    """Retries happen at once in tests."""


def slack(url: str, retries: int = 2) -> SlackChannel:
    return SlackChannel("slack", SecretStr(url), retries=retries, sleep=no_sleep)


def add_incident(db: Database, at: datetime) -> int:
    with db.session() as session:
        incident = Incident(
            model="pricing",
            incident_type="model_quality",
            severity=2,
            status="open",
            title="accuracy under SLA",
            started_at=at,
            detected_at=at,
        )
        session.add(incident)
        session.flush()
        return incident.id


def test_stored_after_the_last_retry(receiver, db: Database, message: Notification) -> None:
    clock = ManualClock(datetime(2026, 1, 1, 9, 31, tzinfo=UTC))
    message = replace(message, incident_id=add_incident(db, message.at))
    receiver.reply(503, body=b"down", times=3)
    fake = RecordingChannel()
    notifier = Notifier(
        {"slack": slack(receiver.url), "fake": fake}, on_dead_letter=recorder(db, clock)
    )
    deliveries = notifier.send(message, ["slack", "fake"])
    notifier.close()
    assert [(d.channel, d.ok, d.attempts) for d in deliveries] == [
        ("slack", False, 3),
        ("fake", True, 1),
    ]
    with db.session() as session:
        [letter] = dead_letters(session)
        assert letter.channel == "slack"
        assert letter.incident_id == message.incident_id
        assert letter.attempts == 3
        assert letter.error == "HTTP 503 Service Unavailable: down"
        assert letter.created_at == clock.now()
        assert letter.replayed_at is None
        assert notification_from(letter.payload) == message
        assert as_dict(letter)["recipient"] == "alice"


def test_replay_to_a_receiver_that_is_back(receiver, db: Database, message: Notification) -> None:
    clock = ManualClock(datetime(2026, 1, 1, 10, 0, tzinfo=UTC))
    receiver.reply(500, times=3)
    channel = slack(receiver.url)
    Notifier({"slack": channel}, on_dead_letter=recorder(db, clock)).send(message, ["slack"])
    failed_body = receiver.received[-1].body
    clock.advance(600)
    with db.session() as session:
        [letter] = dead_letters(session)
        assert letter.incident_id is None, (
            "a message about no stored incident keeps its id in the payload"
        )
        result = replay(session, letter.id, {"slack": channel}, actor="carol", clock=clock)
    assert (result.ok, result.attempts, result.error) == (True, 1, None)
    assert receiver.received[-1].body == failed_body, "the very same Slack message"
    with db.session() as session:
        assert dead_letters(session) == []
        [done] = dead_letters(session, include_replayed=True)
        assert done.replayed_at == clock.now()
        assert done.attempts == 4
        row = session.scalars(select(AuditRow).where(AuditRow.action == "notify.replay")).one()
        assert (row.actor, row.subject) == ("carol", f"dead_letter:{done.id}")
        assert row.after == {"ok": True, "channel": "slack", "attempts": 1}
        audit.verify(session)
        with pytest.raises(InputError, match="already replayed"):
            replay(session, done.id, {"slack": channel}, actor="carol")
        with pytest.raises(NotFoundError):
            replay(session, 999, {"slack": channel}, actor="carol")
    channel.close()


def test_a_failed_replay_updates_its_letter(receiver, db: Database, message: Notification) -> None:
    with db.session() as session:
        letter = store(session, message, "slack", "HTTP 500", 3, at=message.at)
        letter_id = letter.id
    receiver.reply(400, body=b"invalid_blocks")
    channel = slack(receiver.url)
    with db.session() as session:
        result = replay(session, letter_id, {"slack": channel}, actor="carol")
        assert not result.ok and result.error is not None and "invalid_blocks" in result.error
    with db.session() as session:
        [letter] = dead_letters(session)
        assert (letter.error, letter.attempts) == (result.error, 4)
        assert session.scalars(select(DeadLetter)).all() == [letter], "no second letter"
        result = replay(session, letter_id, {}, actor="carol")
        assert result.error == "unknown channel 'slack' (known: none)"
    channel.close()


def test_replay_all(receiver, db: Database, message: Notification) -> None:
    with db.session() as session:
        store(session, message, "slack", "timed out", 4, at=message.at)
        store(session, replace(message, incident_id=43), "pd", "HTTP 502", 4, at=message.at)
        store(session, message, "fake", "injected", 1, at=message.at)
    channels = {
        "slack": slack(receiver.url),
        "pd": PagerDutyChannel("pd", SecretStr("k"), url=receiver.url, sleep=no_sleep),
        "fake": RecordingChannel(fail_times=1),
    }
    results = replay_all(db, channels, actor="ops")
    assert [(r.channel, r.ok) for r in results] == [("slack", True), ("pd", True), ("fake", False)]
    pd_event = json.loads(receiver.received[1].body)
    assert pd_event["dedup_key"] == "ripcord-incident-43"
    assert [r.channel for r in replay_all(db, channels, actor="ops")] == ["fake"]
    with db.session() as session:
        assert dead_letters(session) == []


def test_a_failing_hook_is_logged_not_raised(message: Notification, caplog) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("disk full")

    notifier = Notifier({"fake": RecordingChannel(fail_times=1)}, on_dead_letter=broken)
    [delivery] = notifier.send(message, ["fake"])
    assert not delivery.ok
    assert "dead-letter hook failed" in caplog.text


def test_a_hanging_channel_never_delays_another(
    receiver, db: Database, message: Notification
) -> None:
    receiver.reply(500, hold=True)
    fake = RecordingChannel()
    notifier = Notifier(
        {"slack": slack(receiver.url, retries=0), "fake": fake}, on_dead_letter=recorder(db)
    )
    done: list[Any] = []
    sending = threading.Thread(
        target=lambda: done.append(notifier.send(message, ["slack", "fake"]))
    )
    sending.start()
    deadline = time.monotonic() + 5.0
    while not (fake.messages and receiver.received) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert fake.messages == [message], "the fake got its message while Slack still hangs"
    assert not done
    receiver.release.set()
    sending.join(5.0)
    assert [d.ok for d in done[0]] == [False, True]
    with db.session() as session:
        assert [d.channel for d in dead_letters(session)] == ["slack"]
    notifier.close()


# -- the CLI -----------------------------------------------------------------------------


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("RIPCORD_DATABASE_URL", url)
    return Database.open(url)


def cli_sop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> Path:
    from ripcord.drills import credit

    credit.write_golden(tmp_path / "golden" / "credit-risk.csv", n=50)
    monkeypatch.setenv("RIPCORD_TEST_SLACK_URL", url)
    data = sop_data()
    data["channels"]["slack"] = {"type": "slack", "url_env": "RIPCORD_TEST_SLACK_URL", "retries": 0}
    path = tmp_path / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_cli_lists_and_replays(
    receiver, cli_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, message
) -> None:
    sop = cli_sop(tmp_path, monkeypatch, receiver.url)
    with cli_db.session() as session:
        store(session, message, "slack", "HTTP 500 [boom]", 4, at=message.at)
        store(session, message, "slack", "HTTP 502", 4, at=message.at)
    assert main(["notify", "dead-letters", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(d["id"], d["channel"], d["kind"], d["incident_id"]) for d in listed] == [
        (1, "slack", "page", 42),
        (2, "slack", "page", 42),
    ]
    assert main(["notify", "dead-letters"]) == 0
    table = capsys.readouterr().out
    assert "HTTP 500 [boom]" in table and "alice" in table
    assert main(["notify", "replay", "1", "--actor", "carol", "--sop", str(sop)]) == 0
    assert "dead letter 1 to slack: replayed" in capsys.readouterr().out
    receiver.reply(500, body=b"[red]still down")
    assert main(["notify", "replay", "--all", "--actor", "carol", "--sop", str(sop)]) == 1
    assert "dead letter 2 to slack: failed (HTTP 500" in capsys.readouterr().out
    assert main(["notify", "dead-letters", "--all", "--format", "json"]) == 0
    assert [d["replayed_at"] is not None for d in json.loads(capsys.readouterr().out)] == [
        True,
        False,
    ]
    assert len(receiver.received) == 2


def test_cli_refuses_bad_arguments(
    receiver, cli_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    sop = cli_sop(tmp_path, monkeypatch, receiver.url)
    assert main(["notify", "replay", "--actor", "carol", "--sop", str(sop)]) == 1
    assert "give a dead letter's id or --all" in capsys.readouterr().out
    assert main(["notify", "replay", "7", "--actor", "carol", "--sop", str(sop)]) == 2
    assert "unknown dead letter: 7" in capsys.readouterr().out
    assert main(["notify", "replay", "--all", "--actor", "carol", "--sop", str(sop)]) == 0
    assert "no dead letters to replay" in capsys.readouterr().out
    assert main(["notify", "dead-letters"]) == 0
    assert "no dead letters" in capsys.readouterr().out
    monkeypatch.delenv("RIPCORD_TEST_SLACK_URL")
    assert main(["notify", "replay", "--all", "--actor", "carol", "--sop", str(sop)]) == 1
    assert "channels.slack.url_env: 'RIPCORD_TEST_SLACK_URL' is not set" in capsys.readouterr().out
