"""The SOP file's `channels:` and `messages:`: where notifications go, and their templates.

Secrets are never written in the SOP file: `*_env` fields name the environment variable
that holds them, read when the channels are built (notify/build.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveFloat, model_validator

from ripcord.sop.base import EnvName, Strict

EmailAddress = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]

# Per channel type: the fields it needs, and the fields it may have besides `type`. A field
# that another type uses is refused by name rather than silently ignored.
_NETWORK = ("retries", "timeout_s")
CHANNEL_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "console": ((), ()),
    "webhook": (("url",), ("url", "secret_env", *_NETWORK)),
    "slack": (("url_env",), ("url_env", *_NETWORK)),
    "pagerduty": (("routing_key_env",), ("routing_key_env", "url", "source", *_NETWORK)),
    "email": (
        ("host", "sender"),
        ("host", "port", "sender", "to", "starttls", "username", "password_env", *_NETWORK),
    ),
}


class ChannelSpec(Strict):
    """One notification channel.

    - webhook: `url`, optional `secret_env` (HMAC signing secret)
    - slack: `url_env` (the incoming webhook url is itself the credential)
    - pagerduty: `routing_key_env`, optional `url` (defaults to the Events API v2
      endpoint) and `source` (defaults to the model's name)
    - email: `host`, `sender`, optional `port`, `to` (addresses that get every message),
      `starttls`, `username` with `password_env`; people's addresses come from `people`
    """

    type: Literal["console", "webhook", "slack", "pagerduty", "email"]
    url: str | None = None
    url_env: EnvName | None = None
    secret_env: EnvName | None = None
    routing_key_env: EnvName | None = None
    source: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    host: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    sender: EmailAddress | None = None
    to: tuple[EmailAddress, ...] = ()
    starttls: bool = False
    username: Annotated[str, Field(min_length=1)] | None = None
    password_env: EnvName | None = None
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    timeout_s: PositiveFloat = 5.0

    @model_validator(mode="after")
    def _fields_fit_type(self) -> ChannelSpec:
        required, allowed = CHANNEL_FIELDS[self.type]
        given = self.model_fields_set - {"type"}
        stray = sorted(given - set(allowed))
        if stray:
            raise ValueError(f"{', '.join(stray)}: not used by a {self.type} channel")
        missing = [f for f in required if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.type} channel needs {' and '.join(missing)}")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"a {self.type} channel needs an http(s) url, not {self.url!r}")
        if (self.username is None) != (self.password_env is None):
            raise ValueError("give both username and password_env, or neither")
        if self.username is not None and not self.starttls:
            raise ValueError("username needs starttls: the password would cross in clear")
        return self


class MessageTemplatesSpec(Strict):
    """Jinja2 files that replace the default messages, relative to the SOP file. A file's
    first line renders the title; the rest, the body."""

    page: Annotated[str, Field(min_length=1)] | None = None
    update: Annotated[str, Field(min_length=1)] | None = None
    resolved: Annotated[str, Field(min_length=1)] | None = None
