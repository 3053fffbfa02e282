"""The PagerDuty channel: alert events through the Events API v2.

    POST https://events.pagerduty.com/v2/enqueue          (202 Accepted on success)
    {"routing_key": ..., "event_action": "trigger" | "acknowledge" | "resolve",
     "dedup_key": "ripcord-incident-42", "client": "Ripcord",
     "payload": {"summary", "source", "severity", "timestamp", "component", "group",
                 "class", "custom_details"}}                 (payload on triggers only)

Every message about one incident carries the same `dedup_key`, so a page, its re-pages
and updates land on one PagerDuty alert, and Ripcord's ack and resolution close that
alert rather than a new one. `payload` is sent with triggers only: PagerDuty ignores it
on acknowledge and resolve, which need only the key. `summary` is at most 1024 characters
and `dedup_key` at most 255 (PagerDuty refuses longer ones with a 400).

PagerDuty documents 429 and 5xx as "retry after some time", 400 as final: exactly the
shared retry rules. The routing key is the credential: a SecretStr, scrubbed from error
text, never in a repr or a log.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx
from pydantic import SecretStr

from ripcord.clock import Clock
from ripcord.notify.base import MessageKind, Notification
from ripcord.notify.http import JsonPoster, PostingChannel, parse_url
from ripcord.notify.retry import MAX_RETRY_AFTER_S, RetryPolicy, Sleep

logger = logging.getLogger(__name__)

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_CHARS = 1024
DEDUP_CHARS = 255
CLIENT = "Ripcord"

# Why SEV-1 is "critical" and not "error": PagerDuty urgency rules commonly page a phone
# for critical only, and SEV-1 is the severity that must wake someone.
SEVERITIES: dict[str, str] = {
    "SEV-1": "critical",
    "SEV-2": "error",
    "SEV-3": "warning",
    "SEV-4": "info",
}
UNKNOWN_SEVERITY = "error"  # an odd label still pages, rather than being refused

ACTIONS: dict[MessageKind, str] = {
    MessageKind.PAGE: "trigger",
    MessageKind.UPDATE: "trigger",  # same dedup_key: a log entry on the open alert
    MessageKind.ACK: "acknowledge",
    MessageKind.RESOLVED: "resolve",
}


def severity(label: str) -> str:
    """PagerDuty's severity for a Ripcord severity label ("SEV-2" → "error")."""
    return SEVERITIES.get(label.strip().upper(), UNKNOWN_SEVERITY)


def dedup_key(incident_id: int) -> str:
    """The key every event about one incident shares."""
    return f"ripcord-incident-{incident_id}"


def _summary(message: Notification) -> str:
    text = " ".join(f"[{message.severity}] {message.model}: {message.title}".split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def _details(message: Notification) -> dict[str, Any]:
    details: dict[str, Any] = {
        "incident_id": message.incident_id,
        "kind": message.kind.value,
        "title": message.title,
        "body": message.body,
        "owner": message.recipient,
        "team": message.team,
        "ack_by": message.ack_by.isoformat() if message.ack_by else None,
    }
    details.update({str(k): v for k, v in message.details.items() if str(k) not in details})
    return details


def event(message: Notification, routing_key: str, *, source: str | None = None) -> dict[str, Any]:
    """The Events API v2 body for `message`. `source` defaults to the model's name (the
    "affected system" PagerDuty groups and shows)."""
    action = ACTIONS[message.kind]
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key(message.incident_id),
    }
    if action != "trigger":
        return body
    body["client"] = CLIENT
    body["payload"] = {
        "summary": _summary(message),
        "source": source or message.model,
        "severity": severity(message.severity),
        "timestamp": message.at.isoformat(),
        "component": message.model,
        "group": message.team,
        "class": str(message.details.get("type") or message.kind.value),
        "custom_details": _details(message),
    }
    return body


class PagerDutyChannel(PostingChannel):
    """Sends alert events to PagerDuty; raises DeliveryError once it gives up.

    `url` defaults to the official enqueue endpoint; tests point it at a loopback server.
    """

    def __init__(
        self,
        name: str,
        routing_key: SecretStr,
        *,
        url: str = EVENTS_URL,
        source: str | None = None,
        retries: int = 3,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        backoff_s: float = 0.2,
        sleep: Sleep = time.sleep,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
        clock: Clock | None = None,
    ) -> None:
        if not name:
            raise ValueError("name: a channel needs a non-empty name")
        if not routing_key.get_secret_value().strip():
            raise ValueError("routing_key: is empty")
        if source is not None and not source.strip():
            raise ValueError("source: is empty; give a source or none")
        policy = RetryPolicy(retries, backoff_s, max_retry_after_s)
        self.name = name
        self.source = source
        self.retries = retries
        self._routing_key = routing_key
        self._poster = JsonPoster(
            name,
            parse_url(url),
            policy=policy,
            timeout_s=timeout_s,
            logger=logger,
            label="pagerduty",
            transport=transport,
            sleep=sleep,
            clock=clock,
            secrets=(routing_key.get_secret_value(),),
        )

    def __repr__(self) -> str:
        return f"PagerDutyChannel(name={self.name!r}, url={self.target!r}, retries={self.retries})"

    def deliver(self, message: Notification) -> int:
        """Send `message` as an event, retrying transient failures; return the attempts."""
        data = event(message, self._routing_key.get_secret_value(), source=self.source)
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
        headers = {"Content-Type": "application/json"}
        return self._poster.post(message, body, lambda: headers)
