"""EmailChannel against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import logging
import ssl
from dataclasses import replace

import pytest
from pydantic import SecretStr

from ripcord.notify import DeliveryError, EmailChannel, MessageKind, Notification
from tests.notify.conftest import Mailbox

PEOPLE = {"alice": "alice@example.org", "bob": "bob@example.org"}


class Waits(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def channel(box: Mailbox, waits: Waits | None = None, **options: object) -> EmailChannel:
    options.setdefault("people", PEOPLE)
    return EmailChannel(
        "mail",
        box.host,
        port=box.port,
        sender="ripcord@ops.example.org",
        sleep=waits if waits is not None else Waits(),
        timeout_s=5.0,
        **options,  # type: ignore[arg-type]
    )


def test_headers_and_body(smtp_server: Mailbox, message: Notification) -> None:
    assert channel(smtp_server, to=("ml-oncall@example.org",)).deliver(message) == 1
    [envelope] = smtp_server.received
    assert envelope.mail_from == "ripcord@ops.example.org"
    assert envelope.rcpt_tos == ["alice@example.org", "ml-oncall@example.org"]
    [mail] = smtp_server.messages()
    assert mail["From"] == "ripcord@ops.example.org"
    assert mail["To"] == "alice@example.org, ml-oncall@example.org"
    assert mail["Subject"] == "[SEV-2] Accuracy under SLA (incident #42)"
    assert mail["Date"] == "Thu, 01 Jan 2026 09:30:00 +0000"
    assert mail["References"] == "<ripcord-incident-42@ops.example.org>"
    assert mail["In-Reply-To"] == mail["References"]
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Ripcord-Incident"] == "42"
    assert mail["Message-ID"].endswith("@ops.example.org>")
    assert mail.get_content_type() == "text/plain"
    body = mail.get_content()
    assert body.splitlines()[:4] == [
        "Accuracy under SLA",
        "",
        "accuracy 0.81 < 0.90 over 500 events",
        "all traffic",
    ]
    for line in (
        "Severity: SEV-2",
        "Model:    pricing",
        "Status:   page",
        "Owner:    alice (ml-pricing)",
        "Ack by:   2026-01-01 10:30 UTC",
        "Incident: #42",
    ):
        assert line in body.splitlines()


def test_all_messages_of_an_incident_share_a_thread(
    smtp_server: Mailbox, message: Notification
) -> None:
    mail = channel(smtp_server)
    mail.send(message)
    mail.send(replace(message, kind=MessageKind.RESOLVED, title="Resolved"))
    first, second = smtp_server.messages()
    assert first["References"] == second["References"]
    assert first["Message-ID"] != second["Message-ID"]
    assert second["X-Ripcord-Kind"] == "resolved"


def test_unicode_and_line_breaks_are_safe(smtp_server: Mailbox, message: Notification) -> None:
    odd = replace(message, title="Précision en baisse\r\nBcc: evil@example.org", body="é ✓")
    channel(smtp_server).send(odd)
    [mail] = smtp_server.messages()
    assert mail["Subject"] == "[SEV-2] Précision en baisse Bcc: evil@example.org (incident #42)"
    assert mail["Bcc"] is None
    assert smtp_server.received[0].rcpt_tos == ["alice@example.org"]
    assert "é ✓" in mail.get_content()


def test_a_recipient_that_is_an_address_is_used_as_is(
    smtp_server: Mailbox, message: Notification
) -> None:
    channel(smtp_server, people={}).send(replace(message, recipient="carol@example.org"))
    assert smtp_server.received[0].rcpt_tos == ["carol@example.org"]


def test_no_address_fails_without_trying(smtp_server: Mailbox, message: Notification) -> None:
    with pytest.raises(DeliveryError, match="no email address for 'dora'") as caught:
        channel(smtp_server).send(replace(message, recipient="dora"))
    assert caught.value.attempts == 0
    assert smtp_server.received == []


def test_4xx_is_retried_then_delivered(smtp_server: Mailbox, message: Notification) -> None:
    smtp_server.data_replies.extend(["451 4.3.0 try again later"] * 2)
    waits = Waits()
    assert channel(smtp_server, waits, retries=3, backoff_s=0.1).deliver(message) == 3
    assert len(smtp_server.received) == 1
    assert len(waits) == 2 and 0.05 <= waits[0] <= 0.1 and 0.1 <= waits[1] <= 0.2


def test_5xx_fails_at_once(smtp_server: Mailbox, message: Notification) -> None:
    smtp_server.refuse["alice@example.org"] = "550 5.1.1 no such user"
    waits = Waits()
    with pytest.raises(DeliveryError) as caught:
        channel(smtp_server, waits).send(message)
    assert caught.value.attempts == 1
    assert "alice@example.org (550)" in caught.value.last_error
    assert waits == []


def test_one_refused_recipient_does_not_stop_the_others(
    smtp_server: Mailbox, message: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.refuse["alice@example.org"] = "550 5.1.1 no such user"
    caplog.set_level(logging.WARNING, logger="ripcord.notify.smtp")
    channel(smtp_server, to=("team@example.org",)).send(message)
    assert smtp_server.received[0].rcpt_tos == ["team@example.org"]
    assert "alice@example.org (550)" in caplog.text


def test_server_down_gives_up_after_retries(closed_url: str, message: Notification) -> None:
    port = int(closed_url.rsplit(":", 1)[1].split("/")[0])
    box = Mailbox(port=port)
    waits = Waits()
    with pytest.raises(DeliveryError) as caught:
        channel(box, waits, retries=2).send(message)
    assert caught.value.attempts == 3
    assert "ConnectionRefusedError" in caught.value.last_error
    assert len(waits) == 2


def test_starttls_and_login(
    tls_smtp_server: Mailbox, client_tls: ssl.SSLContext, message: Notification
) -> None:
    mail = channel(
        tls_smtp_server,
        starttls=True,
        username="ripcord",
        password=SecretStr("hunter2"),
        ssl_context=client_tls,
    )
    mail.send(message)
    assert tls_smtp_server.logins == [("ripcord", "hunter2")]
    assert tls_smtp_server.messages()[0]["Subject"].startswith("[SEV-2]")
    assert "hunter2" not in repr(mail)
    assert "login=True" in repr(mail)


def test_wrong_password_is_final_and_never_shown(
    tls_smtp_server: Mailbox,
    client_tls: ssl.SSLContext,
    message: Notification,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="ripcord")
    mail = channel(
        tls_smtp_server,
        starttls=True,
        username="ripcord",
        password=SecretStr("wrong-s3cret"),
        ssl_context=client_tls,
    )
    with pytest.raises(DeliveryError) as caught:
        mail.send(message)
    assert caught.value.attempts == 1
    assert "SMTP 535" in caught.value.last_error
    for text in [
        str(caught.value),
        repr(mail),
        *(f"{r.getMessage()} {r.__dict__}" for r in caplog.records),
    ]:
        assert "wrong-s3cret" not in text


def test_untrusted_certificate_is_final(tls_smtp_server: Mailbox, message: Notification) -> None:
    mail = channel(tls_smtp_server, starttls=True, ssl_context=ssl.create_default_context())
    with pytest.raises(DeliveryError) as caught:
        mail.send(message)
    assert caught.value.attempts == 1
    assert "SSLCertVerificationError" in caught.value.last_error


def test_a_server_that_requires_tls_refuses_plain_mail(
    tls_smtp_server: Mailbox, message: Notification
) -> None:
    with pytest.raises(DeliveryError, match="530"):
        channel(tls_smtp_server).send(message)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"port": 0}, "port"),
        ({"sender": "not an address"}, "sender"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"retries": -1}, "retries"),
        ({"username": "ripcord"}, "username"),
        ({"username": "ripcord", "password": SecretStr("x")}, "starttls"),
    ],
)
def test_bad_options_name_the_field(options: dict[str, object], field: str) -> None:
    options.setdefault("sender", "ripcord@example.org")
    with pytest.raises(ValueError, match=field):
        EmailChannel("mail", "127.0.0.1", **options)  # type: ignore[arg-type]
