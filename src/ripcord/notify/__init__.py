"""Notifications: channels behind one Protocol, a fake for tests and drills, and the Notifier
that fans a message out without ever letting a failing channel stop the response."""

from __future__ import annotations

from ripcord.notify.base import (
    Channel,
    CountingChannel,
    DeliveryError,
    MessageKind,
    Notification,
)
from ripcord.notify.console import ConsoleChannel
from ripcord.notify.fake import RecordingChannel
from ripcord.notify.notifier import Delivery, Notifier, build_channels
from ripcord.notify.webhook import WebhookChannel, sign

__all__ = [
    "Channel",
    "ConsoleChannel",
    "CountingChannel",
    "Delivery",
    "DeliveryError",
    "MessageKind",
    "Notification",
    "Notifier",
    "RecordingChannel",
    "WebhookChannel",
    "build_channels",
    "sign",
]
