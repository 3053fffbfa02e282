"""The generic webhook channel: POST the message as JSON, optionally signed, with retries.

Signing (when a secret is set), in the style of Stripe's and GitHub's webhooks:

    X-Ripcord-Timestamp: <unix seconds>
    X-Ripcord-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

The timestamp is inside the MAC so that a receiver can refuse a captured request replayed
later; `body` is the exact request body, so receivers must verify the raw bytes before
parsing them. Every attempt is signed afresh, with its own timestamp.

Retries: connection errors, timeouts, 5xx and 429 (RFC 6585 §4) are transient. Any other
4xx means the receiver will never take this request as it is, so retrying only delays the
error. A `Retry-After` on 429 or 503 (RFC 9110 §10.2.3) is honoured, up to a cap, so that a
rate-limited receiver cannot park an incident page for an hour. All attempts of one message
carry the same `Idempotency-Key`, so a receiver can drop the duplicate that a retry after a
lost response would otherwise produce.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from pydantic import SecretStr

from ripcord import __version__
from ripcord.clock import Clock, SystemClock
from ripcord.notify.base import DeliveryError, Notification

logger = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Ripcord-Timestamp"
SIGNATURE_HEADER = "X-Ripcord-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_BACKOFF_S = 10.0
MAX_RETRY_AFTER_S = 30.0
_ERROR_BODY_CHARS = 200


def sign(secret: str, timestamp: int, body: str) -> str:
    """The signature header's value for `body` sent at `timestamp` (receivers recompute it)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds a `Retry-After` header asks for: delay-seconds or an HTTP-date; None if absent
    or unreadable (then the usual backoff applies)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def redact_url(url: httpx.URL) -> str:
    """Scheme, host and port only: webhook paths and queries often carry the access token."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"


@dataclass(frozen=True)
class _Failure:
    """Why one attempt failed, and whether another attempt could succeed."""

    error: str
    retryable: bool
    status: int | None = None
    retry_after_s: float | None = None


class WebhookChannel:
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
        sleep: Callable[[float], object] = time.sleep,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
        clock: Clock | None = None,
    ) -> None:
        _check(name, retries, timeout_s, secret, backoff_s, max_retry_after_s)
        self.name = name
        self.url = parse_url(url)
        self.retries = retries
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.max_retry_after_s = max_retry_after_s
        self._secret = secret
        self._sleep = sleep
        self._clock = clock or SystemClock()
        self._rng = random.Random()
        self._client = httpx.Client(
            transport=transport,
            timeout=timeout_s,
            follow_redirects=False,  # a redirected page would re-POST to an unvetted host
            headers={"User-Agent": f"ripcord/{__version__}"},
        )

    def __repr__(self) -> str:
        return (
            f"WebhookChannel(name={self.name!r}, url={redact_url(self.url)!r}, "
            f"retries={self.retries}, timeout_s={self.timeout_s}, "
            f"signed={self._secret is not None})"
        )

    @property
    def target(self) -> str:
        """Where messages go, safe to show or log."""
        return redact_url(self.url)

    def close(self) -> None:
        """Close the connection pool (the channel is unusable afterwards)."""
        self._client.close()

    def __enter__(self) -> WebhookChannel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, message: Notification) -> None:
        """Deliver `message` or raise DeliveryError; see `deliver`."""
        self.deliver(message)

    def deliver(self, message: Notification) -> int:
        """Deliver `message`, retrying transient failures; return the attempts it took."""
        body = json.dumps(message.to_json(), separators=(",", ":"), default=str)
        key = uuid.uuid4().hex
        attempt = 0
        while True:
            attempt += 1
            failure = self._attempt(body, key)
            if failure is None:
                self._log(logging.INFO, "webhook delivered", message, attempt)
                return attempt
            if not failure.retryable or attempt > self.retries:
                self._log(logging.ERROR, "webhook gave up", message, attempt, failure)
                raise DeliveryError(self.name, attempt, failure.error)
            delay = self._delay(attempt, failure)
            self._log(logging.WARNING, "webhook attempt failed", message, attempt, failure, delay)
            self._sleep(delay)

    def _headers(self, body: str, key: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key}
        if self._secret is not None:
            timestamp = int(self._clock.now().timestamp())
            headers[TIMESTAMP_HEADER] = str(timestamp)
            headers[SIGNATURE_HEADER] = sign(self._secret.get_secret_value(), timestamp, body)
        return headers

    def _attempt(self, body: str, key: str) -> _Failure | None:
        """One POST; None on a 2xx, else what went wrong."""
        try:
            response = self._client.post(
                self.url, content=body.encode(), headers=self._headers(body, key)
            )
        except httpx.TimeoutException as exc:
            return _Failure(f"timed out after {self.timeout_s}s ({type(exc).__name__})", True)
        except httpx.TransportError as exc:
            return _Failure(f"{type(exc).__name__}: {exc}", True)
        return self._judge(response)

    def _judge(self, response: httpx.Response) -> _Failure | None:
        status = response.status_code
        if 200 <= status < 300:
            return None
        error = f"HTTP {status} {response.reason_phrase}".rstrip()
        text = response.text.strip()[:_ERROR_BODY_CHARS]
        if text:
            error += f": {text}"
        retry_after = None
        if status in (429, 503):
            header = response.headers.get("Retry-After")
            retry_after = retry_after_seconds(header, self._clock.now())
        return _Failure(error, status == 429 or status >= 500, status, retry_after)

    def _delay(self, attempt: int, failure: _Failure) -> float:
        """Retry-After if the receiver gave one (capped), else exponential backoff with
        jitter, so that many Ripcords retrying one receiver do not arrive in lockstep."""
        if failure.retry_after_s is not None:
            return min(failure.retry_after_s, self.max_retry_after_s)
        ceiling = min(MAX_BACKOFF_S, self.backoff_s * 2.0 ** (attempt - 1))
        return ceiling / 2 + self._rng.uniform(0.0, ceiling / 2)

    def _log(
        self,
        level: int,
        event: str,
        message: Notification,
        attempt: int,
        failure: _Failure | None = None,
        delay_s: float | None = None,
    ) -> None:
        extra = {
            "channel": self.name,
            "target": self.target,
            "incident_id": message.incident_id,
            "attempt": attempt,
            "status": failure.status if failure else None,
            "error": failure.error if failure else None,
            "delay_s": delay_s,
        }
        logger.log(level, "%s: %s attempt %d", event, self.name, attempt, extra=extra)


def _check(
    name: str,
    retries: int,
    timeout_s: float,
    secret: SecretStr | None,
    backoff_s: float,
    max_retry_after_s: float,
) -> None:
    """Refuse a misconfigured channel when it is built, not when the first page is due."""
    if not name:
        raise ValueError("name: a channel needs a non-empty name")
    if retries < 0:
        raise ValueError(f"retries: {retries} is not >= 0")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s: {timeout_s} is not > 0")
    if backoff_s < 0:
        raise ValueError(f"backoff_s: {backoff_s} is not >= 0")
    if max_retry_after_s < 0:
        raise ValueError(f"max_retry_after_s: {max_retry_after_s} is not >= 0")
    if secret is not None and not secret.get_secret_value():
        raise ValueError("secret: is empty; give a secret or none")


def parse_url(url: str) -> httpx.URL:
    """`url` parsed, or a ValueError that shows it only up to its host (see `redact_url`)."""
    shown = url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = shown.partition("://")
    shown = f"{scheme}{sep}{rest.split('/', 1)[0]}/..." if sep else "<not a url>"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"url: {shown!r} does not parse ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"url: {shown!r} is not an http(s) url with a host")
    return parsed
