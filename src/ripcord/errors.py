"""Ripcord's exceptions, one small tree.

    RipcordError
    ├── InputError              bad input from a user: names the field and the value
    │   ├── SopError            an SOP file that does not validate (carries every problem)
    │   └── EventError          a malformed event
    ├── NotFoundError           an unknown model, version, incident or action
    ├── TransitionError         a lifecycle move the transition table does not allow
    ├── AuditError              the audit chain does not verify
    ├── ApprovalError           an approval that the policy refuses (e.g. wrong actor)
    ├── RollbackError           a rollback that cannot go on (no candidate passed, ...)
    ├── RegistryError           a model registry (MLflow) that cannot be reached or refuses
    ├── PausedError             a call to a model whose endpoint is paused
    └── AuthError               no valid API token (HTTP 401)
        └── ForbiddenError      a valid token whose role is too low (HTTP 403)

The CLI maps this tree to exit codes in one place (`cli.EXIT_CODES`), the API to HTTP
codes in one place (`api.errors.STATUS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class RipcordError(Exception):
    """Base of every error Ripcord raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem in a piece of input: where it is, what was there, what is wrong."""

    path: str
    value: object
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.value!r} {self.message}" if self.path else self.message


class InputError(RipcordError):
    """Bad input; `problems` lists every offending field with its value."""

    def __init__(self, what: str, problems: Sequence[Problem]) -> None:
        self.what = what
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid {what}:\n{lines}" if lines else f"invalid {what}")


class SopError(InputError):
    """An SOP file that does not validate."""


class EventError(InputError):
    """A malformed event."""


class NotFoundError(RipcordError):
    """An unknown model, version, incident or action."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"unknown {kind}: {key!r}")


class TransitionError(RipcordError):
    """A lifecycle move that the transition table does not allow."""


class AuditError(RipcordError):
    """The audit chain does not verify."""


class ApprovalError(RipcordError):
    """An approval that the policy refuses."""


class RollbackError(RipcordError):
    """A rollback that cannot go on."""


class RegistryError(RipcordError):
    """A model registry that cannot be reached or refuses a call (an MLflow outage, ...).

    Names the registry and the operation, so the rollback records it and escalates.
    """

    def __init__(self, registry: str, operation: str, detail: str) -> None:
        self.registry = registry
        self.operation = operation
        self.detail = detail
        super().__init__(f"registry {registry}: {operation} failed: {detail}")


class PausedError(RipcordError):
    """A call to a model whose endpoint is paused; carries the message it answers."""

    def __init__(self, model: str, message: str) -> None:
        self.model = model
        self.message = message
        super().__init__(f"model {model!r} is paused: {message}")


class AuthError(RipcordError):
    """A request without a valid API token: missing, unknown or revoked."""


class ForbiddenError(AuthError):
    """A valid token whose role does not allow the request."""


_MESSAGES = {
    "greater_than": "is not > {gt}",
    "greater_than_equal": "is not >= {ge}",
    "less_than": "is not < {lt}",
    "less_than_equal": "is not <= {le}",
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "enum": "is not one of {expected}",
    "literal_error": "is not one of {expected}",
    "value_error": "{error}",  # a validator's own ValueError, worded by its author
}


def problems_from(errors: Sequence[Mapping[str, Any]], prefix: str = "") -> list[Problem]:
    """Turn pydantic's `ValidationError.errors()` into Problems with dotted paths.

    Takes the plain list so this module needs no pydantic import.
    """
    problems = []
    for err in errors:
        loc = err.get("loc", ())
        parts = [prefix] if prefix else []
        parts += [str(p) for p in (loc if isinstance(loc, tuple | list) else ())]
        template = _MESSAGES.get(str(err.get("type")))
        ctx = {
            k: f"{v:g}" if isinstance(v, float) else v for k, v in (err.get("ctx") or {}).items()
        }
        try:
            message = template.format(**ctx) if template else str(err.get("msg", "")).lower()
        except (KeyError, IndexError):
            message = str(err.get("msg", "")).lower()
        value = None if err.get("type") == "missing" else err.get("input")
        problems.append(Problem(".".join(parts), value, message))
    return problems
