"""The Notifier: fan one message out to named channels and report how each delivery went.

It never raises on a channel's failure. The response (containment, rollback) must go on
when Slack is down, and the incident keeps the Delivery records, so that a page that did
not go out is visible and can be escalated rather than silently lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from pydantic import SecretStr
from rich.console import Console

from ripcord.notify.base import Channel, CountingChannel, DeliveryError, Notification
from ripcord.notify.console import ConsoleChannel
from ripcord.notify.webhook import WebhookChannel
from ripcord.sop.schema import ChannelSpec

logger = logging.getLogger(__name__)

MAX_PARALLEL = 8


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
    """Sends messages to channels by name; channels are built once and passed in."""

    def __init__(self, channels: Mapping[str, Channel]) -> None:
        self._channels = dict(channels)

    def __repr__(self) -> str:
        return f"Notifier(channels={sorted(self._channels)})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._channels)

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
            attempts = _send(channel, message)
        except DeliveryError as exc:
            delivery = Delivery(name, False, exc.attempts, exc.last_error, _ms(start))
        except Exception as exc:  # a buggy channel must not stop the others
            error = f"{type(exc).__name__}: {exc}"
            delivery = Delivery(name, False, 1, error, _ms(start))
        else:
            delivery = Delivery(name, True, attempts, None, _ms(start))
        return self._record(delivery, message)

    @staticmethod
    def _record(delivery: Delivery, message: Notification) -> Delivery:
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
        return delivery


def _send(channel: Channel, message: Notification) -> int:
    if isinstance(channel, CountingChannel):
        return channel.deliver(message)
    channel.send(message)
    return 1


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)


def build_channels(
    specs: Mapping[str, ChannelSpec],
    *,
    secrets: Mapping[str, SecretStr] | None = None,
    console: Console | None = None,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Channel]:
    """Build the SOP file's channels. Webhook secrets come from `secrets`, keyed by channel
    name, because the SOP file is checked into git and must not hold them."""
    secrets = dict(secrets or {})
    for name in secrets:
        spec = specs.get(name)
        if spec is None or spec.type != "webhook":
            raise ValueError(f"secrets.{name}: there is no webhook channel named {name!r}")
    channels: dict[str, Channel] = {}
    for name, spec in specs.items():
        channels[name] = _build(name, spec, secrets.get(name), console, transport)
    return channels


def _build(
    name: str,
    spec: ChannelSpec,
    secret: SecretStr | None,
    console: Console | None,
    transport: httpx.BaseTransport | None,
) -> Channel:
    if spec.type == "console":
        return ConsoleChannel(name, console)
    if spec.url is None:  # the schema refuses this; kept for a spec built without it
        raise ValueError(f"channels.{name}.url: a webhook channel needs a url")
    return WebhookChannel(
        name,
        spec.url,
        retries=spec.retries,
        timeout_s=spec.timeout_s,
        secret=secret,
        transport=transport,
    )
