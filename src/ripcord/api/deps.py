"""What every route depends on: the app's state (runtime, lock, metrics) and the caller.

The Ripcord runtime is single-threaded: it keeps the ingest buffer, the detectors' windows,
the routing table and the verification windows in memory and changes them without locks of
its own. FastAPI runs sync endpoints (and sync dependencies) in a thread pool, so two
requests could otherwise interleave inside it (e.g. a batch flushing while an approval
promotes a version). Every call into the runtime, reads included, therefore goes through
`ApiState.runtime()`, which holds one lock for the app; the database is written only from
inside it as well, so SQLite never sees two writers from this process.

The one exception is reading a caller's token: it only reads (SQLite's WAL lets a reader
run beside the writer), so checking who calls does not queue behind a batch being
ingested. The token's `last_used_at`, written at most once a minute, is written under the
lock like everything else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from ripcord import access
from ripcord.access import Role
from ripcord.api.admission import DEFAULT_MAX_QUEUED_EVENTS, Admission
from ripcord.api.webhook_auth import WebhookAuth
from ripcord.app import Ripcord
from ripcord.errors import AuthError, InputError, Problem

if TYPE_CHECKING:
    from ripcord.api.metrics import Metrics

#: with --no-auth, who the caller says they are (for the audit log); "local" otherwise
ACTOR_HEADER = "X-Ripcord-Actor"


@dataclass
class ApiState:
    rc: Ripcord
    metrics: Metrics
    tokens_required: bool
    admission: Admission = field(default_factory=lambda: Admission(DEFAULT_MAX_QUEUED_EVENTS))
    alertmanager_auth: WebhookAuth | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def runtime(self) -> Iterator[Ripcord]:
        with self.lock:
            yield self.rc


def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.ripcord
    return state


State = Annotated[ApiState, Depends(get_state)]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name is the actor the audit log records."""

    name: str
    role: Role


bearer = HTTPBearer(
    auto_error=False,
    description="An API token from `ripcord token create NAME --role ROLE`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


Dependency = Callable[[Request, ApiState, HTTPAuthorizationCredentials | None], Principal]


def caller(needed: Role) -> Dependency:
    """A dependency admitting tokens whose role is `needed` or above."""

    def dependency(request: Request, state: State, credentials: Credentials) -> Principal:
        if not state.tokens_required:
            return Principal(_local_actor(request), Role.ADMIN)
        if credentials is None:
            raise AuthError("authorization: an 'Authorization: Bearer <token>' header is required")
        name, role = authenticate(state, credentials.credentials)
        access.require(role, needed, name)
        return Principal(name, Role(role))

    return dependency


def authenticate(state: ApiState, token: str) -> tuple[str, str]:
    """The token's name and role, read outside the runtime's lock; the lock is taken only
    when `last_used_at` is due to be written."""
    rc = state.rc
    at = rc.clock.now()
    with Session(rc.db.engine) as session:  # read only: rolled back, never committed
        row = access.authenticate(session, token, at=at)
        name, role, touched = row.name, row.role, row in session.dirty
        session.rollback()
    if touched:
        with state.runtime(), rc.db.session() as session:
            access.authenticate(session, token, at=at)
    return name, role


def _local_actor(request: Request) -> str:
    name = request.headers.get(ACTOR_HEADER)
    if name is None:
        return "local"
    if not access.NAME.fullmatch(name) or name in access.RESERVED:
        problem = Problem(ACTOR_HEADER, name, "is not a usable actor name")
        raise InputError("header", [problem])
    return name


Viewer = Annotated[Principal, Depends(caller(Role.VIEWER))]
Responder = Annotated[Principal, Depends(caller(Role.RESPONDER))]
Approver = Annotated[Principal, Depends(caller(Role.APPROVER))]
Admin = Annotated[Principal, Depends(caller(Role.ADMIN))]
