"""Dead letters: messages a channel gave up on, kept so that no page is lost, then listed
and replayed once the receiver is back.

    notifier = Notifier(channels, on_dead_letter=recorder(db, clock))
    with db.session() as session:
        letters = dead_letters(session)
        replay(session, letters[0].id, notifier.channels, actor="alice")
    replay_all(db, notifier.channels, actor="alice")

A replay goes straight to the channel (not through the Notifier), so a replay that fails
again updates its letter instead of adding a second one. Each replay is audited. Delivery
is at least once: a receiver that took the first try but answered too late gets the
message twice (PagerDuty's dedup key and the webhook's Idempotency-Key absorb that).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ripcord.clock import Clock, SystemClock
from ripcord.errors import InputError, NotFoundError, Problem
from ripcord.notify.base import Channel, DeliveryError, MessageKind, Notification
from ripcord.notify.notifier import DeadLetterHook, deliver
from ripcord.store import audit
from ripcord.store.db import Database
from ripcord.store.tables import DeadLetter, Incident

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replay:
    """How one replay went; `error` is None exactly when `ok`."""

    letter_id: int
    channel: str
    ok: bool
    attempts: int
    error: str | None


def notification_from(payload: Mapping[str, Any]) -> Notification:
    """The message a dead letter keeps (the inverse of `Notification.to_json`)."""
    ack_by = payload.get("ack_by")
    return Notification(
        kind=MessageKind(payload["kind"]),
        incident_id=int(payload["incident_id"]),
        model=str(payload["model"]),
        severity=str(payload["severity"]),
        title=str(payload["title"]),
        body=str(payload["body"]),
        recipient=str(payload["recipient"]),
        team=str(payload["team"]),
        at=datetime.fromisoformat(payload["at"]),
        ack_by=datetime.fromisoformat(ack_by) if ack_by else None,
        details=dict(payload.get("details") or {}),
    )


def store(
    session: Session,
    message: Notification,
    channel: str,
    error: str,
    attempts: int,
    *,
    at: datetime,
) -> DeadLetter:
    """Keep a message that `channel` gave up on. The incident link is set only when the
    incident is stored (a drill's message may have none); the payload keeps the id."""
    known = session.get(Incident, message.incident_id) is not None
    letter = DeadLetter(
        incident_id=message.incident_id if known else None,
        channel=channel,
        payload=message.to_json(),
        error=error,
        attempts=attempts,
        created_at=at,
        replayed_at=None,
    )
    session.add(letter)
    session.flush()
    return letter


def recorder(db: Database, clock: Clock | None = None) -> DeadLetterHook:
    """An `on_dead_letter` hook that stores each letter in its own transaction."""
    clock = clock or SystemClock()

    def record(message: Notification, channel: str, error: str, attempts: int) -> None:
        with db.session() as session:
            letter = store(session, message, channel, error, attempts, at=clock.now())
        log.warning(
            "dead letter %d: %s gave up on incident %d",
            letter.id,
            channel,
            message.incident_id,
            extra={"channel": channel, "incident_id": message.incident_id, "letter": letter.id},
        )

    return record


def dead_letters(
    session: Session, *, include_replayed: bool = False, incident_id: int | None = None
) -> list[DeadLetter]:
    """Dead letters, oldest first: those still to replay, or all of them."""
    query = select(DeadLetter).order_by(DeadLetter.id)
    if not include_replayed:
        query = query.where(DeadLetter.replayed_at.is_(None))
    if incident_id is not None:
        query = query.where(DeadLetter.incident_id == incident_id)
    return list(session.scalars(query))


def as_dict(letter: DeadLetter) -> dict[str, Any]:
    """A letter as JSON-ready data (for the CLI and the API)."""
    payload = letter.payload
    return {
        "id": letter.id,
        "incident_id": payload.get("incident_id"),
        "channel": letter.channel,
        "kind": payload.get("kind"),
        "recipient": payload.get("recipient"),
        "title": payload.get("title"),
        "error": letter.error,
        "attempts": letter.attempts,
        "created_at": letter.created_at.isoformat(),
        "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at else None,
    }


def replay(
    session: Session,
    letter_id: int,
    channels: Mapping[str, Channel],
    *,
    actor: str,
    clock: Clock | None = None,
) -> Replay:
    """Send one dead letter again through its channel; on success mark it replayed.

    Raises NotFoundError for an unknown id and InputError for a letter already replayed;
    a failed send is returned (and recorded on the letter), not raised.
    """
    attempts, error = send(pending(session, letter_id), channels)
    return record(session, letter_id, attempts, error, actor=actor, clock=clock)


def replay_all(
    db: Database, channels: Mapping[str, Channel], *, actor: str, clock: Clock | None = None
) -> list[Replay]:
    """Replay every pending letter, oldest first, each in its own transaction (so one
    sent letter stays marked even if a later one crashes the run)."""
    with db.session() as session:
        ids = [letter.id for letter in dead_letters(session)]
    results = []
    for letter_id in ids:
        with db.session() as session:
            results.append(replay(session, letter_id, channels, actor=actor, clock=clock))
    return results


@dataclass(frozen=True)
class Pending:
    """A letter read for a replay: its channel and the stored message. `replay` is
    `pending`, `send`, `record`; the service calls the three apart so that a channel
    retrying a slow receiver does not hold the runtime's lock (api/deadletters.py)."""

    letter_id: int
    channel: str
    payload: Mapping[str, Any]


def pending(session: Session, letter_id: int) -> Pending:
    """The letter to replay. NotFoundError for an unknown id, InputError once replayed."""
    letter = session.get(DeadLetter, letter_id)
    if letter is None:
        raise NotFoundError("dead letter", letter_id)
    if letter.replayed_at is not None:
        when = letter.replayed_at.isoformat(timespec="seconds")
        raise InputError("replay", [Problem("id", letter_id, f"was already replayed at {when}")])
    return Pending(letter.id, letter.channel, dict(letter.payload))


def send(letter: Pending, channels: Mapping[str, Channel]) -> tuple[int, str | None]:
    """Send through the letter's channel: the attempts made and the error (None when
    delivered). Never raises: a buggy channel or a damaged payload is a failure."""
    channel = channels.get(letter.channel)
    if channel is None:
        known = ", ".join(sorted(channels)) or "none"
        return 0, f"unknown channel {letter.channel!r} (known: {known})"
    try:
        return deliver(channel, notification_from(letter.payload)), None
    except DeliveryError as exc:
        return exc.attempts, exc.last_error
    except Exception as exc:  # a buggy channel: recorded like any failure
        return 1, f"{type(exc).__name__}: {exc}"


def record(
    session: Session,
    letter_id: int,
    attempts: int,
    error: str | None,
    *,
    actor: str,
    clock: Clock | None = None,
) -> Replay:
    """Write how a replay went on its letter, and audit it. A letter that another replay
    marked in the meantime keeps its first `replayed_at` (delivery is at least once)."""
    letter = session.get(DeadLetter, letter_id)
    if letter is None:
        raise NotFoundError("dead letter", letter_id)
    now = (clock or SystemClock()).now()
    letter.attempts += attempts
    if error is not None:
        letter.error = error
    elif letter.replayed_at is None:
        letter.replayed_at = now
    result = Replay(letter.id, letter.channel, error is None, attempts, error)
    audit.append(
        session,
        at=now,
        actor=actor,
        action="notify.replay",
        subject=f"dead_letter:{letter.id}",
        reason=error or "",
        after={"ok": result.ok, "channel": letter.channel, "attempts": attempts},
    )
    return result
