"""The contract every channel keeps, run over each channel in the package."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pydantic import SecretStr
from rich.console import Console

from ripcord.notify import (
    Channel,
    ConsoleChannel,
    DeliveryError,
    EmailChannel,
    Notification,
    PagerDutyChannel,
    RecordingChannel,
    SlackChannel,
    WebhookChannel,
)

# A channel under test, and a function saying whether a message with this title arrived.
Subject = tuple[Channel, Callable[[str], bool]]


SECRETS = ("T0KEN", "R0UT1NG", "hunter2")


@pytest.fixture(params=["console", "webhook", "slack", "pagerduty", "email", "fake"])
def subject(request: pytest.FixtureRequest, receiver, smtp_server) -> Iterator[Subject]:
    def posted(title: str) -> bool:
        return any(title.encode() in r.body for r in receiver.received)

    if request.param == "console":
        console = Console(record=True, width=200)
        yield ConsoleChannel(console=console), lambda title: title in console.export_text()
    elif request.param == "webhook":
        with WebhookChannel("webhook", receiver.url) as hook:
            yield hook, posted
    elif request.param == "slack":
        with SlackChannel("slack", SecretStr(receiver.url)) as slack:
            yield slack, posted
    elif request.param == "pagerduty":
        key = SecretStr("R0UT1NG-KEY")
        with PagerDutyChannel("pagerduty", key, url=receiver.url) as pager:
            yield pager, posted
    elif request.param == "email":
        mail = EmailChannel(
            "email",
            smtp_server.host,
            port=smtp_server.port,
            sender="ripcord@example.org",
            people={"alice": "alice@example.org"},
        )
        yield mail, lambda title: any(title in m["Subject"] for m in smtp_server.messages())
    else:
        fake = RecordingChannel()
        yield fake, lambda title: any(m.title == title for m in fake.messages)


def test_send_delivers_and_returns_none(subject: Subject, message: Notification) -> None:
    channel, arrived = subject
    assert channel.send(message) is None  # type: ignore[func-returns-value]
    assert arrived(message.title)


def test_has_a_name_and_a_repr_without_secrets(subject: Subject) -> None:
    channel, _ = subject
    assert isinstance(channel.name, str) and channel.name
    assert channel.name in repr(channel)
    assert not any(secret in repr(channel) for secret in SECRETS)


def test_failure_is_a_delivery_error(
    subject: Subject, message: Notification, receiver, smtp_server
) -> None:
    """Every channel that can fail says so with DeliveryError, which the Notifier records."""
    channel, _ = subject
    receiver.reply(400, times=5)
    smtp_server.refuse["alice@example.org"] = "550 no such user"
    if isinstance(channel, RecordingChannel):
        channel.fail_times = 1
    if isinstance(channel, ConsoleChannel):
        pytest.skip("the console has no receiver that could refuse a message")
    with pytest.raises(DeliveryError) as caught:
        channel.send(message)
    assert caught.value.channel == channel.name
    assert caught.value.attempts == 1
