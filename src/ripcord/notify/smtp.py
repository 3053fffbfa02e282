"""The email channel: one plain-text message per notification, sent through SMTP.

Recipients: the paged person's address from the SOP's `people` map (a recipient that is
already an address is used as it is), plus the channel's fixed `to` list (a team alias).

Every message of one incident carries the same `References` header, so mail clients thread
a page, its updates and its resolution together; `Auto-Submitted: auto-generated`
(RFC 3834) keeps out-of-office robots from answering.

Retries follow SMTP's own split (RFC 5321 §4.2.1): 4yz replies and lost connections are
transient, 5yz replies are final. Logging in is refused without STARTTLS, so a password
never crosses the network in clear text; the password is a SecretStr, never logged.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from pydantic import SecretStr

from ripcord.notify.base import DeliveryError, Notification
from ripcord.notify.retry import Failure, Retrier, RetryPolicy, Sleep

logger = logging.getLogger(__name__)

SUBJECT_CHARS = 200


def subject(message: Notification) -> str:
    """One line (a header must not hold a line break), severity first."""
    text = " ".join(
        f"[{message.severity}] {message.title} (incident #{message.incident_id})".split()
    )
    return text if len(text) <= SUBJECT_CHARS else text[: SUBJECT_CHARS - 1] + "…"


def text_body(message: Notification) -> str:
    """The message body, then the facts a reader needs, one per line."""
    status = str(message.details.get("status") or message.kind.value)
    facts = [
        ("Severity", message.severity),
        ("Model", message.model),
        ("Status", status),
        ("Owner", f"{message.recipient} ({message.team})"),
    ]
    if message.ack_by is not None:
        facts.append(("Ack by", f"{message.ack_by:%Y-%m-%d %H:%M} UTC"))
    facts.append(("Incident", f"#{message.incident_id}"))
    lines = [message.title, ""]
    if message.body.strip():
        lines += [message.body.strip(), ""]
    lines += [f"{label + ':':<10}{value}" for label, value in facts]
    lines += ["", "-- ", f"Sent by Ripcord at {message.at:%Y-%m-%d %H:%M:%S} UTC"]
    return "\n".join(lines) + "\n"


def build_email(message: Notification, sender: str, to: Sequence[str]) -> EmailMessage:
    domain = sender.rpartition("@")[2] or "ripcord.invalid"
    thread = f"<ripcord-incident-{message.incident_id}@{domain}>"
    email = EmailMessage()
    email["From"] = sender
    email["To"] = ", ".join(to)
    email["Subject"] = subject(message)
    email["Date"] = format_datetime(message.at)
    email["Message-ID"] = make_msgid("ripcord", domain=domain)
    email["References"] = thread
    email["In-Reply-To"] = thread
    email["Auto-Submitted"] = "auto-generated"
    email["X-Ripcord-Incident"] = str(message.incident_id)
    email["X-Ripcord-Kind"] = message.kind.value
    email.set_content(text_body(message))
    return email


class EmailChannel:
    """Sends each message as an email through one SMTP server; raises DeliveryError once
    it gives up. `ssl_context` and `sleep` are injectable for tests."""

    def __init__(
        self,
        name: str,
        host: str,
        *,
        sender: str,
        port: int = 25,
        people: Mapping[str, str] | None = None,
        to: Sequence[str] = (),
        starttls: bool = False,
        username: str | None = None,
        password: SecretStr | None = None,
        retries: int = 3,
        timeout_s: float = 10.0,
        backoff_s: float = 0.5,
        sleep: Sleep = time.sleep,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        _check(name, host, port, sender, timeout_s, starttls, username, password)
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.people = dict(people or {})
        self.to = tuple(to)
        self.starttls = starttls
        self.username = username
        self.timeout_s = timeout_s
        self._password = password
        self._ssl_context = ssl_context
        self._retrier = Retrier(
            name,
            RetryPolicy(retries, backoff_s),
            logger=logger,
            label="email",
            target=f"smtp://{host}:{port}",
            sleep=sleep,
        )

    def __repr__(self) -> str:
        return (
            f"EmailChannel(name={self.name!r}, server={self.host}:{self.port}, "
            f"starttls={self.starttls}, login={self.username is not None})"
        )

    def addresses(self, recipient: str) -> list[str]:
        """Where a message for `recipient` goes: their address, then the fixed list."""
        own = self.people.get(recipient) or (recipient if "@" in recipient else None)
        found = [own, *self.to] if own else list(self.to)
        return list(dict.fromkeys(found))  # once each, in order

    def send(self, message: Notification) -> None:
        self.deliver(message)

    def deliver(self, message: Notification) -> int:
        """Send `message`, retrying transient failures; return the attempts it took."""
        to = self.addresses(message.recipient)
        if not to:
            error = f"no email address for {message.recipient!r}: add it under people"
            raise DeliveryError(self.name, 0, error)
        email = build_email(message, self.sender, to)
        return self._retrier.run(message, lambda: self._attempt(email, to))

    def _attempt(self, email: EmailMessage, to: list[str]) -> Failure | None:
        try:
            refused = self._transmit(email, to)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = f"every recipient refused: {_refusals(exc.recipients)}"
            return Failure(error, _transient(codes))
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
            return Failure(f"SMTP {code} {_text(exc.smtp_error)}".strip(), _transient([code]), code)
        except (smtplib.SMTPNotSupportedError, ssl.SSLCertVerificationError) as exc:
            return Failure(f"{type(exc).__name__}: {exc}", False)  # will not change by itself
        except (smtplib.SMTPException, OSError) as exc:
            return Failure(f"{type(exc).__name__}: {exc}", True)  # lost connection, timeout
        if refused:
            logger.warning(
                "email: some recipients refused: %s",
                _refusals(refused),
                extra={"channel": self.name, "refused": sorted(refused)},
            )
        return None

    def _transmit(self, email: EmailMessage, to: list[str]) -> dict[str, tuple[int, bytes]]:
        helo = socket.gethostname()  # getfqdn() may wait on DNS for seconds
        with smtplib.SMTP(self.host, self.port, helo, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls(context=self._ssl_context or ssl.create_default_context())
            if self.username is not None and self._password is not None:
                smtp.login(self.username, self._password.get_secret_value())
            return smtp.send_message(email, self.sender, to)


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def _transient(codes: Sequence[int]) -> bool:
    return bool(codes) and all(400 <= code < 500 for code in codes)


def _refusals(refused: Mapping[str, tuple[int, bytes | str]]) -> str:
    return ", ".join(f"{address} ({code})" for address, (code, _) in sorted(refused.items()))


def _check(
    name: str,
    host: str,
    port: int,
    sender: str,
    timeout_s: float,
    starttls: bool,
    username: str | None,
    password: SecretStr | None,
) -> None:
    """Refuse a misconfigured channel when it is built, not when the first page is due."""
    if not name:
        raise ValueError("name: a channel needs a non-empty name")
    if not host.strip():
        raise ValueError("host: is empty")
    if not 0 < port < 65536:
        raise ValueError(f"port: {port} is not between 1 and 65535")
    if "@" not in sender or any(c.isspace() for c in sender):
        raise ValueError(f"sender: {sender!r} is not an email address")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s: {timeout_s} is not > 0")
    if (username is None) != (password is None):
        raise ValueError("username: give both username and password, or neither")
    if username is not None and not starttls:
        raise ValueError("username: logging in needs starttls (the password would go in clear)")
