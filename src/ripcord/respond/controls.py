"""Operator controls on the routing table: kill switch, pause, disabled features, canary,
shadow. Each checks its input (naming the field and value), changes the row, and writes
the audit entry with before and after, in one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ripcord.errors import InputError, Problem
from ripcord.respond.breaker import RouteState

if TYPE_CHECKING:
    from ripcord.app import Ripcord


def _known_versions(rc: Ripcord, model: str, versions: list[str], field: str) -> None:
    rc.model(model)
    with rc.db.session() as session:
        missing = [v for v in versions if rc.registry.find(session, model, v) is None]
    if missing:
        raise InputError(
            field, [Problem(field, v, f"is not a registered version of {model}") for v in missing]
        )


def kill(rc: Ripcord, model: str, *, on: bool, actor: str, reason: str) -> RouteState:
    """Disable the model (nothing served) or enable it again."""
    rc.model(model)
    with rc.db.session() as session:
        return rc.routes.apply(
            session, model, at=rc.clock.now(), actor=actor, reason=reason, killed=on
        )


def pause(rc: Ripcord, model: str, message: str | None, *, actor: str, reason: str) -> RouteState:
    """Pause the endpoint: every call fails with `message`. None resumes it."""
    rc.model(model)
    if message is not None and not message.strip():
        raise InputError(
            "pause", [Problem("message", message, "must say why the endpoint is paused")]
        )
    with rc.db.session() as session:
        return rc.routes.apply(
            session, model, at=rc.clock.now(), actor=actor, reason=reason, paused=message
        )


def disable_features(
    rc: Ripcord, model: str, stand_ins: Mapping[str, Any], *, actor: str, reason: str
) -> RouteState:
    """Switch input features off: each is replaced by its stand-in value before the model
    sees it (an upstream field gone bad). An empty mapping switches them all back on."""
    rc.model(model)
    known = rc.sop.models[model].contract.fields
    unknown = [name for name in stand_ins if known and name not in known]
    if unknown:
        raise InputError(
            "disabled features",
            [
                Problem(
                    f"disabled_features.{name}", stand_ins[name], "is not a field of the contract"
                )
                for name in unknown
            ],
        )
    with rc.db.session() as session:
        return rc.routes.apply(
            session,
            model,
            at=rc.clock.now(),
            actor=actor,
            reason=reason,
            disabled_features=dict(stand_ins),
        )


def canary(
    rc: Ripcord, model: str, shares: Mapping[str, float], *, actor: str, reason: str
) -> RouteState:
    """Send each version its share of traffic (the serving version gets the rest)."""
    bad = [
        Problem(f"canary.{v}", s, "is not in (0, 1]")
        for v, s in shares.items()
        if not 0.0 < s <= 1.0
    ]
    if sum(shares.values()) > 1.0 + 1e-9:
        bad.append(Problem("canary", dict(shares), "shares add up to more than 1"))
    if bad:
        raise InputError("canary", bad)
    _known_versions(rc, model, list(shares), "canary")
    with rc.db.session() as session:
        return rc.routes.apply(
            session, model, at=rc.clock.now(), actor=actor, reason=reason, canary=dict(shares)
        )


def shadow(rc: Ripcord, model: str, version: str | None, *, actor: str, reason: str) -> RouteState:
    """Mirror every request to `version` (compared, never served); None stops it."""
    if version is not None:
        _known_versions(rc, model, [version], "shadow")
    rc.model(model)
    with rc.db.session() as session:
        return rc.routes.apply(
            session, model, at=rc.clock.now(), actor=actor, reason=reason, shadow=version
        )
