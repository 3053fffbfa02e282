"""The contract every channel keeps, run over each channel in the package."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from rich.console import Console

from ripcord.notify import (
    Channel,
    ConsoleChannel,
    Notification,
    RecordingChannel,
    WebhookChannel,
)

# A channel under test, and a function saying whether a message with this title arrived.
Subject = tuple[Channel, Callable[[str], bool]]


@pytest.fixture(params=["console", "webhook", "fake"])
def subject(request: pytest.FixtureRequest, receiver) -> Iterator[Subject]:
    if request.param == "console":
        console = Console(record=True, width=200)
        yield ConsoleChannel(console=console), lambda title: title in console.export_text()
    elif request.param == "webhook":
        with WebhookChannel("webhook", receiver.url) as hook:
            yield hook, lambda title: any(title.encode() in r.body for r in receiver.received)
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
