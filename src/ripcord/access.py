"""API tokens and roles: who may read, respond, approve, administer.

Roles are ordered, each allowing everything the ones below it do:

    viewer < responder < approver < admin

A token is shown once, when it is made; only its SHA-256 is stored (`api_tokens`). A token is
32 random bytes, so a plain hash is enough: there is nothing to brute-force that a slow,
salted hash would protect. The lookup goes by the hash's index and the match is then
confirmed with `hmac.compare_digest`, so no comparison leaks, byte by byte, how much of a
guess was right (and the index only ever sees hashes of guesses, which tell an attacker
nothing about the real token).

Every change (create, revoke) is audited with its actor. The token's name is the actor that
the audit log records for every write made with it.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ripcord.errors import AuthError, ForbiddenError, InputError, NotFoundError, Problem
from ripcord.store import audit
from ripcord.store.tables import ApiToken

PREFIX = "rcd_"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
#: actors Ripcord itself writes as; a token named so would impersonate the automation
RESERVED = frozenset({"ripcord"})
#: `last_used_at` is written at most this often per token, not on every request
TOUCH_EVERY = timedelta(minutes=1)


class Role(enum.StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, text: str, where: str = "role") -> Role:
        try:
            return cls(text)
        except ValueError:
            expected = ", ".join(r.value for r in cls)
            raise InputError(where, [Problem(where, text, f"is not one of {expected}")]) from None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    session: Session, name: str, role: Role, *, at: datetime, actor: str
) -> tuple[ApiToken, str]:
    """Store a new token's hash; return its row and the token itself (the only time the
    token exists outside the caller's hands)."""
    _check_name(name)
    existing = session.scalars(select(ApiToken).where(ApiToken.name == name)).first()
    if existing is not None:
        state = "revoked" if existing.revoked_at else "active"
        raise InputError("token", [Problem("name", name, f"is already taken ({state} token)")])
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role.value, token_hash=digest(token), created_at=at)
    session.add(row)
    audit.append(
        session,
        at=at,
        actor=actor,
        action="token.create",
        subject=f"token:{name}",
        after={"role": role.value},
    )
    return row, token


def authenticate(session: Session, token: str, *, at: datetime) -> ApiToken:
    """The active token row for `token`; AuthError (without echoing the token) if none."""
    hashed = digest(token)
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == hashed)).first()
    if row is None or not hmac.compare_digest(row.token_hash, hashed):
        raise AuthError("authorization: the bearer token is not a known API token")
    if row.revoked_at is not None:
        raise AuthError(f"authorization: token {row.name!r} was revoked at {row.revoked_at}")
    if row.last_used_at is None or at - row.last_used_at >= TOUCH_EVERY:
        row.last_used_at = at
    return row


def require(row_role: str, needed: Role, name: str) -> None:
    """ForbiddenError unless a token with `row_role` may do what needs `needed`."""
    if not Role(row_role).allows(needed):
        raise ForbiddenError(
            f"role: token {name!r} has role {row_role!r}; this needs {needed.value} or above"
        )


def revoke(session: Session, name: str, *, at: datetime, actor: str) -> ApiToken:
    row = session.scalars(select(ApiToken).where(ApiToken.name == name)).first()
    if row is None:
        raise NotFoundError("token", name)
    if row.revoked_at is None:
        row.revoked_at = at
        audit.append(
            session,
            at=at,
            actor=actor,
            action="token.revoke",
            subject=f"token:{name}",
            before={"role": row.role, "revoked": False},
            after={"role": row.role, "revoked": True},
        )
    return row


def tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        message = "must be 1-100 letters, digits or ._@- and start with a letter or digit"
        raise InputError("token", [Problem("name", name, message)])
    if name in RESERVED:
        raise InputError("token", [Problem("name", name, "is reserved for Ripcord itself")])
