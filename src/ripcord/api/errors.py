"""The one place where Ripcord's exception tree becomes HTTP status codes.

Every error body has the same shape (`ErrorBody`): a kind, the message, and for bad input
every problem with its path, value and message, so a client can point at each bad field of
a batch at once. FastAPI's own request validation is reshaped the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ripcord.api.admission import OverloadedError
from ripcord.api.models import ErrorBody, ProblemOut
from ripcord.errors import (
    ApprovalError,
    AuditError,
    AuthError,
    ForbiddenError,
    InputError,
    NotFoundError,
    PausedError,
    Problem,
    RegistryError,
    RipcordError,
    RollbackError,
    TransitionError,
    problems_from,
)

#: first match wins, so subclasses come before their bases
STATUS: tuple[tuple[type[RipcordError], int, str], ...] = (
    (ForbiddenError, 403, "forbidden"),
    (AuthError, 401, "unauthorized"),
    (InputError, 422, "invalid_input"),
    (NotFoundError, 404, "not_found"),
    (TransitionError, 409, "conflict"),
    (ApprovalError, 409, "conflict"),
    (RollbackError, 409, "conflict"),
    (AuditError, 500, "audit_broken"),  # the log was tampered with: a server-side fault
    (RegistryError, 503, "registry_unavailable"),
    (PausedError, 503, "model_paused"),
    (OverloadedError, 429, "overloaded"),
    (RipcordError, 400, "bad_request"),
)

#: documented on every route that can answer them
RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": description}
    for code, description in (
        (401, "no valid API token"),
        (403, "the token's role does not allow this"),
        (422, "bad input: every problem with its path and value"),
    )
}
OVERLOADED: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorBody,
        "description": "over the ingestion limit; nothing stored: resend after `Retry-After`",
        "headers": {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        },
    }
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "unknown"}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "the current state does not allow this"}
}


def status_of(exc: RipcordError) -> tuple[int, str]:
    return next((code, kind) for cls, code, kind in STATUS if isinstance(exc, cls))


def error_response(
    status: int,
    kind: str,
    message: str,
    problems: Sequence[Problem],
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(
        error=kind,
        message=message,
        problems=[
            ProblemOut(path=p.path, value=_json_safe(p.value), message=p.message) for p in problems
        ],
    )
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def ripcord_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RipcordError)
    status, kind = status_of(exc)
    problems = exc.problems if isinstance(exc, InputError) else []
    headers = None
    if isinstance(exc, OverloadedError):  # RFC 9110 §10.2.3: delay-seconds
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(status, kind, str(exc), problems, headers)


def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{**e, "loc": _path(e.get("loc", ()))} for e in exc.errors()]
    problems = problems_from(errors)
    message = "invalid request:\n" + "\n".join(f"  {p}" for p in problems)
    return error_response(422, "invalid_input", message, problems)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RipcordError, ripcord_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def _path(loc: Sequence[Any]) -> tuple[str, ...]:
    """('body', 'events', 2, 'kind') -> ('events[2]', 'kind'); query and path parameters
    keep their place as a prefix ('query', 'since')."""
    parts: list[str] = []
    for i, part in enumerate(loc):
        if i == 0 and part == "body":
            continue
        if isinstance(part, int) and parts:
            parts[-1] += f"[{part}]"
        else:
            parts.append(str(part))
    return tuple(parts)


def _json_safe(value: object) -> object:
    """Echo the offending value when JSON can carry it (NaN cannot), else its repr."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)
    return value
