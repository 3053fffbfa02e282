"""The Slack channel: an incoming webhook, with Block Kit blocks and a plain-text fallback.

    {"text": "<fallback for notifications and screen readers>",
     "blocks": [header, section (body + severity/model/status/owner fields), context]}

Limits from Slack's Block Kit reference, enforced here because Slack refuses the whole
message (400 invalid_blocks) when one block is over: a header's plain_text at most 150
characters, a section's text 3000, each section field 2000, at most 10 fields and 10
context elements.

Slack reads `&`, `<` and `>` as markup in mrkdwn and in the top-level `text` (`<!channel>`
pings everyone), so everything that comes from a model, a detector or a person is escaped
as `&amp;`, `&lt;`, `&gt;` there; plain_text is shown as it is and is not escaped.

The webhook url is the credential (anyone holding it can post to the channel), so it is a
SecretStr and only its host is ever shown or logged.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from ripcord.clock import Clock
from ripcord.notify.base import MessageKind, Notification
from ripcord.notify.http import JsonPoster, PostingChannel, parse_url
from ripcord.notify.retry import MAX_RETRY_AFTER_S, RetryPolicy, Sleep

logger = logging.getLogger(__name__)

HEADER_CHARS = 150
SECTION_CHARS = 3000
FIELD_CHARS = 2000
FALLBACK_CHARS = 3000  # Slack cuts `text` at 40,000; a notification needs far less
ELLIPSIS = "…"


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, marked with an ellipsis when cut; an
    escape sequence (`&amp;`) is never cut in half."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    amp = cut.rfind("&", max(0, len(cut) - 4))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS


def _mrkdwn(text: str, limit: int) -> dict[str, str]:
    return {"type": "mrkdwn", "text": clip(escape(text), limit)}


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": clip(f"*{label}*\n{escape(value)}", FIELD_CHARS)}


def _date(at: datetime, label: str) -> str:
    """Slack's date token: shown in each reader's own time zone, with a UTC fallback."""
    fallback = f"{label} {at:%Y-%m-%d %H:%M} UTC"
    return f"<!date^{int(at.timestamp())}^{label} {{date_short_pretty}} {{time}}|{fallback}>"


def status_of(message: Notification) -> str:
    """The incident's status as the message states it, else what the message is."""
    return str(message.details.get("status") or message.kind.value)


def blocks(message: Notification) -> list[dict[str, Any]]:
    """Header, one section with the body and four fields, and a context line."""
    section: dict[str, Any] = {
        "type": "section",
        "fields": [
            _field("Severity", message.severity),
            _field("Model", message.model),
            _field("Status", status_of(message)),
            _field("Owner", f"{message.recipient} ({message.team})"),
        ],
    }
    if message.body.strip():  # Slack refuses an empty text object
        section["text"] = _mrkdwn(message.body.strip(), SECTION_CHARS)
    context = [_mrkdwn(f"Incident #{message.incident_id} · {message.kind.value}", SECTION_CHARS)]
    if message.ack_by is not None and message.kind in (MessageKind.PAGE, MessageKind.UPDATE):
        context.append({"type": "mrkdwn", "text": _date(message.ack_by, "Acknowledge by")})
    header = {"type": "plain_text", "text": clip(message.title, HEADER_CHARS), "emoji": True}
    return [
        {"type": "header", "text": header},
        section,
        {"type": "context", "elements": context},
    ]


def fallback(message: Notification) -> str:
    """The top-level `text`: what a phone notification or a screen reader shows."""
    head = (
        f"{message.severity} {message.kind.value}: {message.title} "
        f"({message.model}, incident #{message.incident_id})"
    )
    if message.ack_by is not None and message.kind in (MessageKind.PAGE, MessageKind.UPDATE):
        head += f" — acknowledge by {message.ack_by:%Y-%m-%d %H:%M} UTC"
    text = f"{head}\n{message.body.strip()}".strip()
    return clip(escape(text), FALLBACK_CHARS)


def payload(message: Notification) -> dict[str, Any]:
    """The JSON body an incoming webhook takes."""
    return {"text": fallback(message), "blocks": blocks(message)}


class SlackChannel(PostingChannel):
    """Posts to a Slack incoming webhook; raises DeliveryError once it gives up.

    Retries like the webhook channel (Slack answers 429 with Retry-After when rate
    limited); `sleep` and `clock` are injectable for tests.
    """

    def __init__(
        self,
        name: str,
        url: SecretStr,
        *,
        retries: int = 3,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        backoff_s: float = 0.2,
        sleep: Sleep = time.sleep,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
        clock: Clock | None = None,
    ) -> None:
        if not name:
            raise ValueError("name: a channel needs a non-empty name")
        policy = RetryPolicy(retries, backoff_s, max_retry_after_s)
        self.name = name
        self.retries = retries
        self._poster = JsonPoster(
            name,
            parse_url(url.get_secret_value()),
            policy=policy,
            timeout_s=timeout_s,
            logger=logger,
            label="slack",
            transport=transport,
            sleep=sleep,
            clock=clock,
            secrets=(url.get_secret_value(),),
        )

    def __repr__(self) -> str:
        return f"SlackChannel(name={self.name!r}, url={self.target!r}, retries={self.retries})"

    def deliver(self, message: Notification) -> int:
        """Post `message`, retrying transient failures; return the attempts it took."""
        body = json.dumps(payload(message), separators=(",", ":"), ensure_ascii=False)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        return self._poster.post(message, body, lambda: headers)
