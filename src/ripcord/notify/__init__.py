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
from ripcord.notify.build import build_channels
from ripcord.notify.console import ConsoleChannel
from ripcord.notify.fake import RecordingChannel
from ripcord.notify.messages import IncidentFacts, MessageTemplates, render
from ripcord.notify.notifier import DeadLetterHook, Delivery, Notifier
from ripcord.notify.pagerduty import PagerDutyChannel
from ripcord.notify.slack import SlackChannel
from ripcord.notify.smtp import EmailChannel
from ripcord.notify.webhook import WebhookChannel, sign

__all__ = [
    "Channel",
    "ConsoleChannel",
    "CountingChannel",
    "DeadLetterHook",
    "Delivery",
    "DeliveryError",
    "EmailChannel",
    "IncidentFacts",
    "MessageKind",
    "MessageTemplates",
    "Notification",
    "Notifier",
    "PagerDutyChannel",
    "RecordingChannel",
    "SlackChannel",
    "WebhookChannel",
    "build_channels",
    "render",
    "sign",
]
