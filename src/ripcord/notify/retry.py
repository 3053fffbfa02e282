"""The retry loop every networked channel shares: exponential backoff with jitter, a
receiver's own `Retry-After` honoured up to a cap, and a DeliveryError after the last try.

A channel supplies one `attempt` function that returns None on success or a `Failure`
saying whether another attempt could succeed; the loop does the rest, so webhook, Slack,
PagerDuty and email retry the same way and log the same structured fields.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from ripcord.notify.base import DeliveryError, Notification

MAX_BACKOFF_S = 10.0
MAX_RETRY_AFTER_S = 30.0

Sleep = Callable[[float], object]


@dataclass(frozen=True)
class Failure:
    """Why one attempt failed, and whether another attempt could succeed."""

    error: str
    retryable: bool
    status: int | None = None
    retry_after_s: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How many extra attempts after the first, and how long to wait between them.

    `backoff_s` is the ceiling of the first wait; it doubles per attempt up to
    MAX_BACKOFF_S. A receiver's Retry-After replaces the backoff, capped at
    `max_retry_after_s` so that a rate-limited receiver cannot park an incident page
    for an hour.
    """

    retries: int = 3
    backoff_s: float = 0.2
    max_retry_after_s: float = MAX_RETRY_AFTER_S

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries: {self.retries} is not >= 0")
        if self.backoff_s < 0:
            raise ValueError(f"backoff_s: {self.backoff_s} is not >= 0")
        if self.max_retry_after_s < 0:
            raise ValueError(f"max_retry_after_s: {self.max_retry_after_s} is not >= 0")

    def delay(self, attempt: int, failure: Failure, rng: random.Random) -> float:
        """Retry-After if the receiver gave one (capped), else exponential backoff with
        "equal jitter", so that many Ripcords retrying one receiver do not arrive in
        lockstep while each still waits at least half the ceiling."""
        if failure.retry_after_s is not None:
            return min(failure.retry_after_s, self.max_retry_after_s)
        ceiling = min(MAX_BACKOFF_S, self.backoff_s * 2.0 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


class Retrier:
    """Runs one channel's attempts under a RetryPolicy, logging each on `logger`.

    `label` names the kind of channel in log messages ("webhook", "slack"); `target` is
    where it sends, already safe to log (no token, no key).
    """

    def __init__(
        self,
        channel: str,
        policy: RetryPolicy,
        *,
        logger: logging.Logger,
        label: str,
        target: str,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.channel = channel
        self.policy = policy
        self.label = label
        self.target = target
        self._logger = logger
        self._sleep = sleep
        self._rng = random.Random()

    def run(self, message: Notification, attempt: Callable[[], Failure | None]) -> int:
        """Call `attempt` until it succeeds or may not be retried; return the attempts it
        took, or raise DeliveryError with the last failure."""
        count = 0
        while True:
            count += 1
            failure = attempt()
            if failure is None:
                self._log(logging.INFO, "delivered", message, count)
                return count
            if not failure.retryable or count > self.policy.retries:
                self._log(logging.ERROR, "gave up", message, count, failure)
                raise DeliveryError(self.channel, count, failure.error)
            delay = self.policy.delay(count, failure, self._rng)
            self._log(logging.WARNING, "attempt failed", message, count, failure, delay)
            self._sleep(delay)

    def _log(
        self,
        level: int,
        event: str,
        message: Notification,
        attempt: int,
        failure: Failure | None = None,
        delay_s: float | None = None,
    ) -> None:
        extra = {
            "channel": self.channel,
            "target": self.target,
            "incident_id": message.incident_id,
            "kind": message.kind.value,
            "attempt": attempt,
            "status": failure.status if failure else None,
            "error": failure.error if failure else None,
            "delay_s": delay_s,
        }
        self._logger.log(
            level, "%s %s: %s attempt %d", self.label, event, self.channel, attempt, extra=extra
        )


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret replaced, for error bodies that might echo one back."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
