"""The Notifier: fan one message out to named channels and report how each delivery went.

It never raises on a channel's failure. The response (containment, rollback) must go on
when Slack is down, and the incident keeps the Delivery records, so that a page that did
not go out is visible and can be escalated rather than silently lost. Every message that
was not delivered (a channel gave up, or the channel is unknown) also goes to the optional
`on_dead_letter` hook (see `deadletter.py`), to be listed and replayed later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType

from ripcord.notify.base import Channel, CountingChannel, DeliveryError, Notification

logger = logging.getLogger(__name__)

MAX_PARALLEL = 8

# on_dead_letter(message, channel name, error, attempts): called once per failed delivery,
# from the thread that ran it, after the channel's last try.
DeadLetterHook = Callable[[Notification, str, str, int], None]


@dataclass(frozen=True)
class Delivery:
    """How one message went to one channel. `attempts` is 0 when nothing was tried (an
    unknown channel); `error` is None exactly when `ok`."""

    channel: str
    ok: bool
    attempts: int
    error: str | None
    duration_ms: float


class Notifier:
    """Sends messages to channels by name; channels are built once and passed in.

    `on_dead_letter` receives every message a channel failed to deliver (an exception in
    the hook is logged, never raised: it must not stop the other channels either).
    """

    def __init__(
        self, channels: Mapping[str, Channel], *, on_dead_letter: DeadLetterHook | None = None
    ) -> None:
        self._channels = dict(channels)
        self.on_dead_letter = on_dead_letter

    def __repr__(self) -> str:
        return f"Notifier(channels={sorted(self._channels)})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._channels)

    @property
    def channels(self) -> Mapping[str, Channel]:
        """The channels by name (read-only): what a dead-letter replay sends through."""
        return MappingProxyType(self._channels)

    def send(self, message: Notification, channel_names: Iterable[str]) -> list[Delivery]:
        """Send `message` to each named channel (once each, in parallel, so that a webhook
        retrying a dead receiver does not hold up the console); one Delivery per name, in
        the order given. Never raises."""
        if isinstance(channel_names, str):  # a lone name, not its letters
            channel_names = [channel_names]
        names = list(dict.fromkeys(channel_names))
        if len(names) <= 1:
            return [self._deliver(name, message) for name in names]
        workers = min(len(names), MAX_PARALLEL)
        with ThreadPoolExecutor(workers, thread_name_prefix="ripcord-notify") as pool:
            return list(pool.map(lambda name: self._deliver(name, message), names))

    def abandon(
        self, message: Notification, channel_names: Iterable[str], reason: str
    ) -> list[Delivery]:
        """Give up on `message` without trying (say, the process is shutting down): one
        failed Delivery per name, each dead-lettered, so that a replay can send it."""
        names = list(dict.fromkeys(channel_names))
        return [self._record(Delivery(name, False, 0, reason, 0.0), message) for name in names]

    def close(self) -> None:
        """Close every channel that holds resources (connection pools)."""
        for channel in self._channels.values():
            close = getattr(channel, "close", None)
            if callable(close):
                close()

    def _deliver(self, name: str, message: Notification) -> Delivery:
        channel = self._channels.get(name)
        if channel is None:
            known = ", ".join(sorted(self._channels)) or "none"
            error = f"unknown channel {name!r} (known: {known})"
            return self._record(Delivery(name, False, 0, error, 0.0), message)
        start = time.perf_counter()
        try:
            attempts = deliver(channel, message)
        except DeliveryError as exc:
            delivery = Delivery(name, False, exc.attempts, exc.last_error, _ms(start))
        except Exception as exc:  # a buggy channel must not stop the others
            error = f"{type(exc).__name__}: {exc}"
            delivery = Delivery(name, False, 1, error, _ms(start))
        else:
            delivery = Delivery(name, True, attempts, None, _ms(start))
        return self._record(delivery, message)

    def _record(self, delivery: Delivery, message: Notification) -> Delivery:
        extra = {
            "channel": delivery.channel,
            "incident_id": message.incident_id,
            "kind": message.kind.value,
            "ok": delivery.ok,
            "attempts": delivery.attempts,
            "error": delivery.error,
            "duration_ms": delivery.duration_ms,
        }
        if delivery.ok:
            logger.debug("notified %s", delivery.channel, extra=extra)
        else:
            logger.warning(
                "notification to %s failed: %s", delivery.channel, delivery.error, extra=extra
            )
            self._dead_letter(delivery, message)
        return delivery

    def _dead_letter(self, delivery: Delivery, message: Notification) -> None:
        if self.on_dead_letter is None:
            return
        try:
            self.on_dead_letter(
                message, delivery.channel, delivery.error or "failed", delivery.attempts
            )
        except Exception:  # the hook's own failure (say, its database) is only logged
            logger.exception(
                "dead-letter hook failed for %s",
                delivery.channel,
                extra={"channel": delivery.channel, "incident_id": message.incident_id},
            )


def deliver(channel: Channel, message: Notification) -> int:
    """Send through one channel; the attempts it took (raises as the channel does)."""
    if isinstance(channel, CountingChannel):
        return channel.deliver(message)
    channel.send(message)
    return 1


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)
