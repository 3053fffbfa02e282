"""POSTing a JSON body with retries: what webhook, Slack and PagerDuty channels share.

Connection errors, timeouts, 5xx and 429 (RFC 6585 §4) are transient. Any other 4xx means
the receiver will never take this request as it is, so retrying only delays the error.
A `Retry-After` on 429 or 503 (RFC 9110 §10.2.3) is honoured, up to the policy's cap.
Any 2xx is success: Slack answers 200 "ok", PagerDuty's Events API 202 Accepted.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Self

import httpx

from ripcord import __version__
from ripcord.clock import Clock, SystemClock
from ripcord.notify.base import Notification
from ripcord.notify.retry import Failure, Retrier, RetryPolicy, Sleep, scrub

_ERROR_BODY_CHARS = 200


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


def parse_url(url: str, field: str = "url") -> httpx.URL:
    """`url` parsed, or a ValueError naming `field` that shows the url only up to its host
    (see `redact_url`)."""
    shown = url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = shown.partition("://")
    shown = f"{scheme}{sep}{rest.split('/', 1)[0]}/..." if sep else "<not a url>"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"{field}: {shown!r} does not parse ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{field}: {shown!r} is not an http(s) url with a host")
    return parsed


class _HttpxRedactor(logging.Filter):
    """httpx logs each request's full url at INFO ("HTTP Request: POST <url> ..."). A Slack
    webhook's url is its credential and other webhook urls often carry a token, so for the
    urls Ripcord's channels post to, the log shows scheme, host and port only."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(a) if isinstance(a, httpx.URL) and str(a) in self.urls else a
                for a in record.args
            )
        return True


@functools.cache
def _httpx_redactor() -> _HttpxRedactor:
    """Installed on the "httpx" logger once, when the first channel is built."""
    redactor = _HttpxRedactor()
    logging.getLogger("httpx").addFilter(redactor)
    return redactor


class JsonPoster:
    """POSTs bodies to one url through a Retrier; owns the connection pool.

    `secrets` are scrubbed from error text (a receiver may echo a key back in its error
    body, and errors end up in logs, Delivery rows and dead letters).
    """

    def __init__(
        self,
        channel: str,
        url: httpx.URL,
        *,
        policy: RetryPolicy,
        timeout_s: float,
        logger: logging.Logger,
        label: str,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s: {timeout_s} is not > 0")
        self.url = url
        self.timeout_s = timeout_s
        self.target = redact_url(url)
        _httpx_redactor().urls.add(str(url))
        self.retrier = Retrier(
            channel, policy, logger=logger, label=label, target=self.target, sleep=sleep
        )
        self._clock = clock or SystemClock()
        self._secrets = secrets
        self._client = httpx.Client(
            transport=transport,
            timeout=timeout_s,
            follow_redirects=False,  # a redirected page would re-POST to an unvetted host
            headers={"User-Agent": f"ripcord/{__version__}"},
        )

    @property
    def now(self) -> datetime:
        return self._clock.now()

    def close(self) -> None:
        self._client.close()

    def post(
        self, message: Notification, body: str, headers: Callable[[], Mapping[str, str]]
    ) -> int:
        """POST `body` until accepted; `headers` is called per attempt (signatures carry a
        fresh timestamp). Returns the attempts it took or raises DeliveryError."""
        return self.retrier.run(message, lambda: self._attempt(body.encode(), headers()))

    def _attempt(self, body: bytes, headers: Mapping[str, str]) -> Failure | None:
        """One POST; None on a 2xx, else what went wrong."""
        try:
            response = self._client.post(self.url, content=body, headers=dict(headers))
        except httpx.TimeoutException as exc:
            return Failure(f"timed out after {self.timeout_s}s ({type(exc).__name__})", True)
        except httpx.TransportError as exc:
            return Failure(scrub(f"{type(exc).__name__}: {exc}", self._secrets), True)
        return self._judge(response)

    def _judge(self, response: httpx.Response) -> Failure | None:
        status = response.status_code
        if 200 <= status < 300:
            return None
        error = f"HTTP {status} {response.reason_phrase}".rstrip()
        text = response.text.strip()[:_ERROR_BODY_CHARS]
        if text:
            error += f": {text}"
        retry_after = None
        if status in (429, 503):
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), self.now)
        retryable = status == 429 or status >= 500
        return Failure(scrub(error, self._secrets), retryable, status, retry_after)


class PostingChannel:
    """What every channel that posts over HTTP shares: a `JsonPoster` in `_poster`, a
    loggable target, closing, use as a context manager, and `send` = `deliver`."""

    _poster: JsonPoster

    @property
    def target(self) -> str:
        """Where messages go, safe to show or log."""
        return self._poster.target

    def close(self) -> None:
        """Close the connection pool (the channel is unusable afterwards)."""
        self._poster.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, message: Notification) -> None:
        """Deliver `message` or raise DeliveryError; see `deliver`."""
        self.deliver(message)

    def deliver(self, message: Notification) -> int:
        raise NotImplementedError
