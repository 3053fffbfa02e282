"""The generic webhook channel: POST the message as JSON, optionally signed, with retries.

Signing (when a secret is set), in the style of Stripe's and GitHub's webhooks:

    X-Ripcord-Timestamp: <unix seconds>
    X-Ripcord-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

The timestamp is inside the MAC so that a receiver can refuse a captured request replayed
later; `body` is the exact request body, so receivers must verify the raw bytes before
parsing them. Every attempt is signed afresh, with its own timestamp.

Retries (shared with Slack and PagerDuty, see `ripcord.notify.http`): connection errors,
timeouts, 5xx and 429 are transient, other 4xx are final, and `Retry-After` is honoured up
to a cap. All attempts of one message carry the same `Idempotency-Key`, so a receiver can
drop the duplicate that a retry after a lost response would otherwise produce.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid

import httpx
from pydantic import SecretStr

from ripcord.clock import Clock, SystemClock
from ripcord.notify.base import Notification
from ripcord.notify.http import (
    JsonPoster,
    PostingChannel,
    parse_url,
    redact_url,
    retry_after_seconds,
)
from ripcord.notify.retry import MAX_BACKOFF_S, MAX_RETRY_AFTER_S, RetryPolicy, Sleep

logger = logging.getLogger(__name__)

__all__ = [
    "IDEMPOTENCY_HEADER",
    "MAX_BACKOFF_S",
    "MAX_RETRY_AFTER_S",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookChannel",
    "parse_url",
    "redact_url",
    "retry_after_seconds",
    "sign",
]

TIMESTAMP_HEADER = "X-Ripcord-Timestamp"
SIGNATURE_HEADER = "X-Ripcord-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def sign(secret: str, timestamp: int, body: str) -> str:
    """The signature header's value for `body` sent at `timestamp` (receivers recompute it)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class WebhookChannel(PostingChannel):
    """POSTs `Notification.to_json()` to `url`; raises DeliveryError once it gives up.

    `retries` is the number of extra attempts after the first; `sleep` and `clock` are
    injectable so that tests and drills exercise the retry path without waiting.
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        retries: int = 3,
        timeout_s: float = 5.0,
        secret: SecretStr | None = None,
        transport: httpx.BaseTransport | None = None,
        backoff_s: float = 0.2,
        sleep: Sleep = time.sleep,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
        clock: Clock | None = None,
    ) -> None:
        if not name:
            raise ValueError("name: a channel needs a non-empty name")
        if secret is not None and not secret.get_secret_value():
            raise ValueError("secret: is empty; give a secret or none")
        policy = RetryPolicy(retries, backoff_s, max_retry_after_s)
        self.name = name
        self.url = parse_url(url)
        self.retries = retries
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.max_retry_after_s = max_retry_after_s
        self._secret = secret
        self._clock = clock or SystemClock()
        self._poster = JsonPoster(
            name,
            self.url,
            policy=policy,
            timeout_s=timeout_s,
            logger=logger,
            label="webhook",
            transport=transport,
            sleep=sleep,
            clock=self._clock,
            secrets=(secret.get_secret_value(),) if secret is not None else (),
        )

    def __repr__(self) -> str:
        return (
            f"WebhookChannel(name={self.name!r}, url={self.target!r}, "
            f"retries={self.retries}, timeout_s={self.timeout_s}, "
            f"signed={self._secret is not None})"
        )

    @property
    def target(self) -> str:
        """Where messages go, safe to show or log."""
        return redact_url(self.url)

    def deliver(self, message: Notification) -> int:
        """Deliver `message`, retrying transient failures; return the attempts it took."""
        body = json.dumps(message.to_json(), separators=(",", ":"), default=str)
        key = uuid.uuid4().hex
        return self._poster.post(message, body, lambda: self._headers(body, key))

    def _headers(self, body: str, key: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key}
        if self._secret is not None:
            timestamp = int(self._clock.now().timestamp())
            headers[TIMESTAMP_HEADER] = str(timestamp)
            headers[SIGNATURE_HEADER] = sign(self._secret.get_secret_value(), timestamp, body)
        return headers
