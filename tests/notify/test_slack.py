"""SlackChannel against a real HTTP server on loopback: the incoming-webhook payload Slack
expects (Block Kit fields and limits), retries, 429 with Retry-After, and a secret url."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from ripcord.notify import DeliveryError, MessageKind, Notification, SlackChannel
from ripcord.notify.slack import clip, escape


class Waits(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def slack(url: str, waits: Waits | None = None, **options: Any) -> SlackChannel:
    options.setdefault("backoff_s", 0.01)
    return SlackChannel(
        "slack", SecretStr(url), sleep=waits if waits is not None else Waits(), **options
    )


def posted(receiver: Any, index: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(receiver.received[index].body)
    return body


def test_the_exact_incoming_webhook_payload(receiver, message: Notification) -> None:
    receiver.reply(200, body=b"ok")
    with slack(receiver.url) as channel:
        assert channel.deliver(message) == 1
    got = receiver.received[0]
    assert got.path == "/hooks/T0KEN-in-path?team=ml"
    assert got.headers["content-type"] == "application/json; charset=utf-8"
    ack = int(datetime(2026, 1, 1, 10, 30, tzinfo=UTC).timestamp())
    assert posted(receiver) == {
        "text": (
            "SEV-2 page: Accuracy under SLA (pricing, incident #42) — acknowledge by "
            "2026-01-01 10:30 UTC\naccuracy 0.81 &lt; 0.90 over 500 events\nall traffic"
        ),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": "Accuracy under SLA", "emoji": True},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Severity*\nSEV-2"},
                    {"type": "mrkdwn", "text": "*Model*\npricing"},
                    {"type": "mrkdwn", "text": "*Status*\npage"},
                    {"type": "mrkdwn", "text": "*Owner*\nalice (ml-pricing)"},
                ],
                "text": {
                    "type": "mrkdwn",
                    "text": "accuracy 0.81 &lt; 0.90 over 500 events\nall traffic",
                },
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "Incident #42 · page"},
                    {
                        "type": "mrkdwn",
                        "text": f"<!date^{ack}^Acknowledge by {{date_short_pretty}} {{time}}"
                        "|Acknowledge by 2026-01-01 10:30 UTC>",
                    },
                ],
            },
        ],
    }


def test_status_comes_from_the_details(receiver, message: Notification) -> None:
    resolved = replace(message, kind=MessageKind.RESOLVED, details={"status": "resolved"}, body="")
    with slack(receiver.url) as channel:
        channel.send(resolved)
    blocks = posted(receiver)["blocks"]
    assert blocks[1]["fields"][2] == {"type": "mrkdwn", "text": "*Status*\nresolved"}
    assert "text" not in blocks[1], "an empty body sends no empty text object"
    assert [e["text"] for e in blocks[2]["elements"]] == ["Incident #42 · resolved"]
    assert "acknowledge" not in posted(receiver)["text"]


def test_markup_from_models_is_escaped(receiver, message: Notification) -> None:
    odd = replace(message, model="<!channel> & co", title="<!here> fired", body="a > b")
    with slack(receiver.url) as channel:
        channel.send(odd)
    sent = posted(receiver)
    assert "<!channel>" not in json.dumps(sent) and "<!here>" not in sent["text"]
    assert sent["blocks"][1]["fields"][1]["text"] == "*Model*\n&lt;!channel&gt; &amp; co"
    assert sent["blocks"][1]["text"]["text"] == "a &gt; b"
    assert sent["blocks"][0]["text"]["text"] == "<!here> fired", "plain_text is not parsed"


def test_slack_limits_are_respected(receiver, message: Notification) -> None:
    huge = replace(message, title="T" * 400, body="&" * 5000, recipient="x" * 3000)
    with slack(receiver.url) as channel:
        channel.send(huge)
    sent = posted(receiver)
    header, section, context = sent["blocks"]
    assert len(header["text"]["text"]) == 150 and header["text"]["text"].endswith("…")
    assert len(section["text"]["text"]) <= 3000
    assert section["text"]["text"].endswith("&amp;…"), "no entity is cut in half"
    assert all(len(f["text"]) <= 2000 for f in section["fields"])
    assert len(section["fields"]) <= 10 and len(context["elements"]) <= 10
    assert len(sent["text"]) <= 3000


def test_429_honours_retry_after(receiver, message: Notification) -> None:
    receiver.reply(429, headers={"Retry-After": "3"}, body=b"rate_limited")
    waits = Waits()
    with slack(receiver.url, waits) as channel:
        assert channel.deliver(message) == 2
    assert waits == [3.0]
    assert posted(receiver, 0) == posted(receiver, 1)


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, b"invalid_payload"), (403, b"action_prohibited"), (404, b"channel_not_found"),
     (410, b"channel_is_archived")],
)  # fmt: skip
def test_slack_refusals_are_final(receiver, message, status: int, error: bytes) -> None:
    receiver.reply(status, body=error, times=3)
    waits = Waits()
    with slack(receiver.url, waits) as channel, pytest.raises(DeliveryError) as caught:
        channel.send(message)
    assert caught.value.attempts == 1
    assert caught.value.last_error.endswith(error.decode())
    assert waits == []


def test_5xx_is_retried_then_gives_up(receiver, message: Notification) -> None:
    receiver.reply(500, body=b"rollup_error", times=5)
    waits = Waits()
    with slack(receiver.url, waits, retries=2) as channel, pytest.raises(DeliveryError) as c:
        channel.send(message)
    assert c.value.attempts == 3 and len(waits) == 2


def test_the_url_is_a_secret(receiver, message, caplog: pytest.LogCaptureFixture) -> None:
    receiver.reply(500, body=receiver.url.encode(), times=5)  # a receiver echoing the url
    caplog.set_level(logging.DEBUG, logger="ripcord")
    channel = slack(receiver.url, retries=1)
    with channel, pytest.raises(DeliveryError) as caught:
        channel.send(message)
    shown = [repr(channel), str(caught.value), channel.target]
    shown += [f"{r.getMessage()} {r.__dict__}" for r in caplog.records]
    assert len(caplog.records) == 2
    for text in shown:
        assert "T0KEN" not in text
    assert repr(channel) == (f"SlackChannel(name='slack', url={channel.target!r}, retries=1)")


def test_bad_url_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError, match="url") as caught:
        SlackChannel("slack", SecretStr("hooks.slack.com/services/T0KEN"))
    assert "T0KEN" not in str(caught.value)


def test_clip_and_escape() -> None:
    assert escape("<a & b>") == "&lt;a &amp; b&gt;"
    assert clip("abc", 3) == "abc"
    assert clip("abcd", 3) == "ab…"
    assert clip("x&amp;yz", 6) == "x…"
    assert clip("xy&amp;zz", 8) == "xy&amp;…"


def test_httpx_request_log_shows_no_token(
    receiver, message, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    with slack(receiver.url) as channel:
        channel.send(message)
    [record] = [r for r in caplog.records if r.name == "httpx"]
    assert "HTTP Request: POST http://127.0.0.1:" in record.getMessage()
    assert "T0KEN" not in record.getMessage()
