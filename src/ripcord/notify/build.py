"""Build the SOP file's channels: the channel registry the app factory passes down.

Secrets are not in the SOP file (it is checked into git): a channel names the environment
variable that holds each one (`routing_key_env: PD_ROUTING_KEY`), read here into a
SecretStr. Every unset variable is reported at once, by its field, before any channel
is used; a message is never half-sent because the second channel lacked its key.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import SecretStr
from rich.console import Console

from ripcord.errors import InputError, Problem
from ripcord.notify.base import Channel
from ripcord.notify.console import ConsoleChannel
from ripcord.notify.messages import problems as template_problems
from ripcord.notify.pagerduty import EVENTS_URL, PagerDutyChannel
from ripcord.notify.retry import Sleep
from ripcord.notify.slack import SlackChannel
from ripcord.notify.smtp import EmailChannel
from ripcord.notify.webhook import WebhookChannel
from ripcord.sop.channels import ChannelSpec
from ripcord.sop.schema import Sop


@dataclass
class _Context:
    """What every builder may need, and the problems found so far."""

    environ: Mapping[str, str] = field(repr=False)  # the whole process environment
    secrets: Mapping[str, SecretStr]
    people: Mapping[str, str]
    console: Console | None
    transport: httpx.BaseTransport | None
    sleep: Sleep
    problems: list[Problem] = field(default_factory=list)

    def secret(self, channel: str, field_name: str, variable: str | None) -> SecretStr | None:
        """The secret in `variable`, or None (with a problem noted) when it is unset."""
        if variable is None:
            return None
        value = self.environ.get(variable)
        if value is None or not value.strip():
            state = "is not set" if value is None else "is empty"
            where = f"channels.{channel}.{field_name}"
            self.problems.append(Problem(where, variable, f"{state} in the environment"))
            return None
        return SecretStr(value.strip())


def build_channels(
    specs: Mapping[str, ChannelSpec],
    *,
    secrets: Mapping[str, SecretStr] | None = None,
    people: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    console: Console | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Sleep = time.sleep,
) -> dict[str, Channel]:
    """Build the SOP's channels by name.

    `secrets` gives webhook signing secrets by channel name (instead of `secret_env`);
    `people` maps a person to an email address (the SOP's `people`); `environ` defaults
    to the process environment. Raises InputError naming every `channels.<name>.<field>`
    whose variable is unset.
    """
    secrets = dict(secrets or {})
    for name in secrets:
        spec = specs.get(name)
        if spec is None or spec.type != "webhook":
            raise ValueError(f"secrets.{name}: there is no webhook channel named {name!r}")
    context = _Context(
        os.environ if environ is None else environ,
        secrets,
        dict(people or {}),
        console,
        transport,
        sleep,
    )
    channels: dict[str, Channel] = {}
    for name, spec in specs.items():
        channel = BUILDERS[spec.type](name, spec, context)
        if channel is not None:
            channels[name] = channel
    if context.problems:
        _close(channels)
        raise InputError("channel secrets", context.problems)
    return channels


def _close(channels: Mapping[str, Channel]) -> None:
    for channel in channels.values():
        close = getattr(channel, "close", None)
        if callable(close):
            close()


def _console(name: str, spec: ChannelSpec, context: _Context) -> Channel:
    return ConsoleChannel(name, context.console)


def _webhook(name: str, spec: ChannelSpec, context: _Context) -> Channel | None:
    if spec.url is None:  # the schema refuses this; kept for a spec built without it
        raise ValueError(f"channels.{name}.url: a webhook channel needs a url")
    secret = context.secrets.get(name) or context.secret(name, "secret_env", spec.secret_env)
    if spec.secret_env is not None and secret is None:
        return None
    return WebhookChannel(
        name,
        spec.url,
        retries=spec.retries,
        timeout_s=spec.timeout_s,
        secret=secret,
        transport=context.transport,
        sleep=context.sleep,
    )


def _slack(name: str, spec: ChannelSpec, context: _Context) -> Channel | None:
    url = context.secret(name, "url_env", spec.url_env)
    if url is None:
        return None
    return SlackChannel(
        name,
        url,
        retries=spec.retries,
        timeout_s=spec.timeout_s,
        transport=context.transport,
        sleep=context.sleep,
    )


def _pagerduty(name: str, spec: ChannelSpec, context: _Context) -> Channel | None:
    key = context.secret(name, "routing_key_env", spec.routing_key_env)
    if key is None:
        return None
    return PagerDutyChannel(
        name,
        key,
        url=spec.url or EVENTS_URL,
        source=spec.source,
        retries=spec.retries,
        timeout_s=spec.timeout_s,
        transport=context.transport,
        sleep=context.sleep,
    )


def _email(name: str, spec: ChannelSpec, context: _Context) -> Channel | None:
    password = context.secret(name, "password_env", spec.password_env)
    if spec.password_env is not None and password is None:
        return None
    if spec.host is None or spec.sender is None:  # the schema refuses this
        raise ValueError(f"channels.{name}: an email channel needs host and sender")
    return EmailChannel(
        name,
        spec.host,
        sender=spec.sender,
        port=spec.port,
        people=context.people,
        to=spec.to,
        starttls=spec.starttls,
        username=spec.username,
        password=password,
        retries=spec.retries,
        timeout_s=spec.timeout_s,
        sleep=context.sleep,
    )


BUILDERS: dict[str, Callable[[str, ChannelSpec, _Context], Channel | None]] = {
    "console": _console,
    "webhook": _webhook,
    "slack": _slack,
    "pagerduty": _pagerduty,
    "email": _email,
}


def sop_problems(sop: Sop, base: Path) -> list[Problem]:
    """What `sop validate` checks about notifications beyond the schema: template files
    (relative to `base`, the SOP file's folder) and an address for everyone paged by email.
    Environment variables are not checked here: they belong to where Ripcord runs."""
    found = template_problems(sop.templates, base)
    by_email = {n for n, spec in sop.channels.items() if spec.type == "email" and not spec.to}
    for name, team in sop.teams.items():
        if not by_email.intersection(team.channels):
            continue
        for role, person in (("primary", team.primary), ("backup", team.backup)):
            if person is not None and person not in sop.people:
                message = "has no email address under people, and the team pages by email"
                found.append(Problem(f"teams.{name}.{role}", person, message))
    return found
