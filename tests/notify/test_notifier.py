"""Notifier: a failing channel is recorded and never stops the others."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from pydantic import SecretStr
from rich.console import Console

from ripcord.notify import (
    ConsoleChannel,
    Delivery,
    Notification,
    Notifier,
    RecordingChannel,
    WebhookChannel,
    build_channels,
    sign,
)
from ripcord.sop.schema import ChannelSpec


def no_sleep(seconds: float) -> None:
    """Retries happen at once in tests."""


class Broken:
    """A buggy channel: raises something that is not a DeliveryError."""

    name = "broken"

    def send(self, message: Notification) -> None:
        raise RuntimeError("boom")


class WaitsForOthers:
    """Succeeds only if `other` receives the message while this send is still running,
    which can only happen when the Notifier sends in parallel."""

    name = "slow"

    def __init__(self, other: RecordingChannel) -> None:
        self.other = other

    def send(self, message: Notification) -> None:
        deadline = time.monotonic() + 2.0
        while not self.other.messages:
            if time.monotonic() > deadline:
                raise TimeoutError("the other channel was held up behind this one")
            time.sleep(0.005)


def test_failing_webhook_does_not_stop_the_others(receiver, message: Notification) -> None:
    receiver.reply(500, times=10)
    hook = WebhookChannel("hook", receiver.url, retries=1, sleep=no_sleep)
    fake = RecordingChannel()
    notifier = Notifier({"hook": hook, "fake": fake})
    deliveries = notifier.send(message, ["hook", "fake"])
    notifier.close()
    assert [(d.channel, d.ok, d.attempts) for d in deliveries] == [
        ("hook", False, 2),
        ("fake", True, 1),
    ]
    assert deliveries[0].error is not None and "HTTP 500" in deliveries[0].error
    assert deliveries[1].error is None
    assert all(d.duration_ms >= 0 for d in deliveries)
    assert fake.messages == [message]


def test_attempts_of_a_successful_retry_are_reported(receiver, message: Notification) -> None:
    receiver.reply(500, times=2)
    hook = WebhookChannel("hook", receiver.url, retries=3, sleep=no_sleep)
    [delivery] = Notifier({"hook": hook}).send(message, ["hook"])
    hook.close()
    assert (delivery.ok, delivery.attempts, delivery.error) == (True, 3, None)


def test_unknown_channel_is_a_failed_delivery(message: Notification) -> None:
    notifier = Notifier({"fake": RecordingChannel(), "console": RecordingChannel("console")})
    [delivery] = notifier.send(message, ["slack"])
    assert delivery == Delivery("slack", False, 0, delivery.error, 0.0)
    assert delivery.error == "unknown channel 'slack' (known: console, fake)"


def test_a_buggy_channel_never_raises(message: Notification) -> None:
    fake = RecordingChannel()
    deliveries = Notifier({"broken": Broken(), "fake": fake}).send(message, ["broken", "fake"])
    assert [(d.ok, d.error) for d in deliveries] == [(False, "RuntimeError: boom"), (True, None)]
    assert fake.messages == [message]


def test_fake_failure_is_reported_with_its_reason(message: Notification) -> None:
    fake = RecordingChannel(fail_times=1)
    [delivery] = Notifier({"fake": fake}).send(message, ["fake"])
    assert not delivery.ok
    assert delivery.error == "injected failure 1 of 1"


def test_each_channel_gets_the_message_once(message: Notification) -> None:
    fake = RecordingChannel()
    notifier = Notifier({"fake": fake})
    assert [d.channel for d in notifier.send(message, ["fake", "fake"])] == ["fake"]
    assert [d.channel for d in notifier.send(message, "fake")] == ["fake"]
    assert notifier.send(message, []) == []
    assert len(fake.messages) == 2


def test_channels_are_sent_in_parallel(message: Notification) -> None:
    fake = RecordingChannel()
    notifier = Notifier({"slow": WaitsForOthers(fake), "fake": fake})
    deliveries = notifier.send(message, ["slow", "fake"])
    assert [(d.channel, d.ok) for d in deliveries] == [("slow", True), ("fake", True)]


def test_failures_are_logged_with_fields(
    message: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ripcord.notify.notifier")
    Notifier({}).send(message, ["nowhere"])
    [record] = caplog.records
    assert record.channel == "nowhere"  # type: ignore[attr-defined]
    assert record.incident_id == 42  # type: ignore[attr-defined]
    assert record.ok is False  # type: ignore[attr-defined]


def test_build_channels_from_the_sop(receiver, message: Notification) -> None:
    specs = {
        "console": ChannelSpec(type="console"),
        "hook": ChannelSpec(type="webhook", url=receiver.url, retries=1, timeout_s=2.0),
    }
    console = Console(record=True, width=200)
    channels = build_channels(specs, secrets={"hook": SecretStr("k")}, console=console)
    assert isinstance(channels["console"], ConsoleChannel)
    hook = channels["hook"]
    assert isinstance(hook, WebhookChannel)
    assert (hook.name, hook.retries, hook.timeout_s) == ("hook", 1, 2.0)
    notifier = Notifier(channels)
    assert all(d.ok for d in notifier.send(message, ["console", "hook"]))
    notifier.close()
    assert "Accuracy under SLA" in console.export_text()
    got = receiver.received[0]
    timestamp = int(got.headers["x-ripcord-timestamp"])
    assert got.headers["x-ripcord-signature"] == sign("k", timestamp, got.body.decode())


def test_build_channels_refuses_a_secret_for_no_webhook() -> None:
    specs = {"console": ChannelSpec(type="console")}
    for name in ("console", "hoook"):
        with pytest.raises(ValueError, match=f"secrets.{name}"):
            build_channels(specs, secrets={name: SecretStr("k")})


def test_concurrent_sends_share_a_channel_safely(message: Notification) -> None:
    fake = RecordingChannel()
    notifier = Notifier({"fake": fake, "other": RecordingChannel("other")})
    threads = [
        threading.Thread(target=notifier.send, args=(message, ["fake", "other"])) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5.0)
    assert len(fake.messages) == 8
