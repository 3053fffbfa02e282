"""Inbound webhook credentials: a shared bearer token, an HMAC signature, or both.

A sender such as Alertmanager cannot hold a Ripcord API token's lifecycle (names, roles,
rotation through the API), and an API token lets its holder do anything its role allows.
A webhook credential is narrower: it lets its holder post to that one receiver, as the
actor `actor` (with the responder role, as alerts can set off containment).

- Bearer: `Authorization: Bearer <token>`, compared in constant time. Alertmanager sends it
  from `webhook_configs[].http_config.authorization` (`credentials` or `credentials_file`).
- HMAC: the same scheme Ripcord's own webhook channel signs with (`ripcord.notify.webhook`),
  so one Ripcord can post to another:

      X-Ripcord-Timestamp: <unix seconds>
      X-Ripcord-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

  The MAC covers the timestamp, and a timestamp more than `replay_window_s` from the
  server's clock is refused, so a captured request cannot be replayed later.

With both configured, both are required. Secrets are `SecretStr`: never in a repr, a log
line or an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ripcord.errors import AuthError, InputError, Problem
from ripcord.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER
from ripcord.sop.alertmanager import WebhookAuthSpec

SCHEME = "sha256="


class WebhookAuth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bearer_token: SecretStr | None = None
    hmac_secret: SecretStr | None = None
    replay_window_s: int = Field(300, gt=0, le=86_400)
    actor: str = Field("alertmanager", min_length=1, max_length=100)

    @model_validator(mode="after")
    def _usable(self) -> WebhookAuth:
        if self.bearer_token is None and self.hmac_secret is None:
            raise ValueError("webhook auth: neither bearer_token nor hmac_secret is set")
        for name in ("bearer_token", "hmac_secret"):
            secret: SecretStr | None = getattr(self, name)
            if secret is not None and not secret.get_secret_value().strip():
                raise ValueError(f"{name}: must not be empty")
        return self

    @classmethod
    def from_spec(
        cls,
        spec: WebhookAuthSpec,
        *,
        where: str = "alertmanager.auth",
        environ: Mapping[str, str] | None = None,
        actor: str = "alertmanager",
    ) -> WebhookAuth:
        """Read the secrets the SOP file names; InputError naming every unset variable."""
        environ = os.environ if environ is None else environ
        found: dict[str, SecretStr] = {}
        problems = []
        for field, variable in (
            ("bearer_token", spec.bearer_token_env),
            ("hmac_secret", spec.hmac_secret_env),
        ):
            if variable is None:
                continue
            value = environ.get(variable, "").strip()
            if not value:
                state = "is not set" if variable not in environ else "is empty"
                problems.append(Problem(f"{where}.{field}_env", variable, f"{state}"))
            found[field] = SecretStr(value)
        if problems:
            raise InputError(where, problems)
        return cls(**found, replay_window_s=spec.replay_window_s, actor=actor)

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> None:
        """AuthError, saying which header is missing or wrong, unless the request carries
        every configured credential."""
        if self.bearer_token is not None:
            self._check_bearer(headers.get("authorization"))
        if self.hmac_secret is not None:
            self._check_signature(headers, body, now)

    def _check_bearer(self, header: str | None) -> None:
        scheme, _, token = (header or "").partition(" ")
        if header is None or scheme.lower() != "bearer" or not token.strip():
            raise AuthError(
                "authorization: this webhook requires 'Authorization: Bearer <token>' "
                "with its shared token"
            )
        expected = self.bearer_token.get_secret_value() if self.bearer_token else ""
        if not hmac.compare_digest(token.strip().encode(), expected.strip().encode()):
            raise AuthError("authorization: the bearer token is not this webhook's token")

    def _check_signature(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        stamp, signature = headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
        if stamp is None or signature is None:
            missing = TIMESTAMP_HEADER if stamp is None else SIGNATURE_HEADER
            raise AuthError(
                f"{missing}: missing; this webhook requires an HMAC-SHA256 signature "
                f"({SIGNATURE_HEADER}: {SCHEME}<hex> over '<timestamp>.<body>')"
            )
        if not stamp.isascii() or not stamp.isdigit():
            raise AuthError(f"{TIMESTAMP_HEADER}: {stamp!r} is not a whole number of seconds")
        skew = abs(now.timestamp() - int(stamp))
        if skew > self.replay_window_s:
            raise AuthError(
                f"{TIMESTAMP_HEADER}: {stamp} is {skew:.0f} s from the server's clock; "
                f"the replay window is {self.replay_window_s} s"
            )
        secret = self.hmac_secret.get_secret_value() if self.hmac_secret else ""
        mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        if not hmac.compare_digest(signature.encode(), (SCHEME + mac.hexdigest()).encode()):
            raise AuthError(
                f"{SIGNATURE_HEADER}: does not match the body and timestamp "
                f"(expected {SCHEME}<hex HMAC-SHA256 of '<timestamp>.<body>'>)"
            )
