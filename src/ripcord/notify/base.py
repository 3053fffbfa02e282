"""Notifications: one Protocol every channel implements, and the message they carry."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ripcord.errors import RipcordError


class MessageKind(enum.StrEnum):
    PAGE = "page"  # a new incident: someone must act
    UPDATE = "update"  # status moved on (contained, rolled back, ...)
    ACK = "ack"  # a person acknowledged the page: stop paging (PagerDuty `acknowledge`)
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Notification:
    """One message about one incident, addressed to a person on a team."""

    kind: MessageKind
    incident_id: int
    model: str
    severity: str  # "SEV-2"
    title: str
    body: str
    recipient: str  # the person paged
    team: str
    at: datetime
    ack_by: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The generic webhook's JSON payload."""
        return {
            "kind": self.kind.value,
            "incident_id": self.incident_id,
            "model": self.model,
            "severity": self.severity,
            "title": self.title,
            "body": self.body,
            "recipient": self.recipient,
            "team": self.team,
            "at": self.at.isoformat(),
            "ack_by": self.ack_by.isoformat() if self.ack_by else None,
            "details": dict(self.details),
        }


class Channel(Protocol):
    """A way to reach people. `send` raises on failure (after its own retries); the
    Notifier catches it so that a failing channel never blocks containment."""

    name: str

    def send(self, message: Notification) -> None: ...


@runtime_checkable
class CountingChannel(Channel, Protocol):
    """A channel that retries on its own and can say how many attempts a delivery took.

    Optional: the Notifier uses `deliver` when a channel has it, so that the record of a
    delivery shows the retries it needed (a webhook that needs 3 tries is about to fail).
    """

    def deliver(self, message: Notification) -> int:
        """Send like `send`, and return the number of attempts it took (at least 1)."""
        ...


class DeliveryError(RipcordError):
    """A channel gave up on a message: every attempt failed, or the receiver refused it.

    `last_error` is what went wrong on the final attempt (never the channel's secret).
    """

    def __init__(self, channel: str, attempts: int, last_error: str) -> None:
        self.channel = channel
        self.attempts = attempts
        self.last_error = last_error
        tries = "attempt" if attempts == 1 else "attempts"
        super().__init__(
            f"channel {channel!r}: delivery failed after {attempts} {tries}: {last_error}"
        )
