"""Canary and shadow review on live traffic: analyse, then promote, hold or reject per the
SOP file's `canary:` policy.

A canary serves its share of requests; a shadow answers copies that are never served. Once
either has `min_events` answers, it is compared with the serving version's most recent
answers (respond/analysis.py). A failed candidate loses its traffic (canary) or its copies
(shadow) and is marked bad; a passing one is promoted when the policy says `promote` — a
deploy, verified like any other — or left as it is (`hold`). Every change goes through the
routing table, so it is audited with before and after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ripcord.registry.local import Health
from ripcord.respond import controls
from ripcord.respond.analysis import Analysis, Observed, analyze
from ripcord.store.tables import EventRow

if TYPE_CHECKING:
    from ripcord.app import Ripcord

WINDOW = 5_000  # the most recent answers of each side that are compared


def observed(
    session: Session, model: str, version: str, routes: tuple[str, ...], since_id: int = 0
) -> Observed:
    """A version's most recent answers (at most WINDOW), from event id `since_id` on."""
    query = (
        select(EventRow.payload)
        .where(
            EventRow.model == model,
            EventRow.kind == "inference",
            EventRow.version == version,
            EventRow.route.in_(routes),
            EventRow.id >= since_id,
        )
        .order_by(EventRow.id.desc())
        .limit(WINDOW)
    )
    payloads: list[dict[str, Any]] = list(session.scalars(query))
    return Observed(
        confidence=[p["confidence"] for p in payloads if p.get("confidence") is not None],
        latency_ms=[p["latency_ms"] for p in payloads],
        errors=[p.get("error") is not None for p in payloads],
    )


def review(rc: Ripcord, model: str, version: str) -> Analysis:
    """Compare `version` (canary or shadow) with the serving version's recent answers."""
    rc.model(model)
    policy = rc.sop.canary
    serving = rc.routes.state(model).serving
    rc.store_held()
    with rc.db.session() as session:
        cand_routes = ("champion", "shadow")
        first = session.scalar(
            select(func.min(EventRow.id)).where(
                EventRow.model == model,
                EventRow.version == version,
                EventRow.route.in_(cand_routes),
            )
        )
        # the serving side over the same period only: both met the same machine and traffic
        base = observed(session, model, serving or "", ("champion",), since_id=first or 0)
        cand = observed(session, model, version, cand_routes)
    return analyze(
        base, cand, min_events=policy.min_events, alpha=policy.alpha,
        alpha_marginal=policy.alpha_marginal,
    )  # fmt: skip


def review_all(rc: Ripcord) -> list[tuple[str, str, Analysis]]:
    """Review every canary and shadow with enough answers, and act on the verdicts."""
    decided = []
    for model in rc.sop.models:
        state = rc.routes.state(model)
        for version in [*state.canary, *([state.shadow] if state.shadow else [])]:
            result = review(rc, model, version)
            if result.verdict == "marginal" and result.candidate_n < rc.sop.canary.min_events:
                continue  # not enough answers yet
            _act(rc, model, version, result)
            decided.append((model, version, result))
    return decided


def _act(rc: Ripcord, model: str, version: str, result: Analysis) -> None:
    state = rc.routes.state(model)
    reason = f"canary analysis of {version}: {result.verdict} ({result.reason})"
    if result.verdict == "fail":
        if version in state.canary:
            rest = {v: s for v, s in state.canary.items() if v != version}
            controls.canary(rc, model, rest, actor="ripcord", reason=reason)
        if state.shadow == version:
            controls.shadow(rc, model, None, actor="ripcord", reason=reason)
        with rc.db.session() as session:
            row = rc.registry.get(session, model, version)
            rc.registry.mark(
                session, row, Health.BAD, at=rc.clock.now(), actor="ripcord", reason=reason
            )
    elif result.verdict == "pass" and rc.sop.canary.on_pass == "promote":
        if version in state.canary:
            rest = {v: s for v, s in state.canary.items() if v != version}
            controls.canary(rc, model, rest, actor="ripcord", reason=reason)
        if state.shadow == version:
            controls.shadow(rc, model, None, actor="ripcord", reason=reason)
        rc.deploy(model, version, actor="ripcord", reason=reason)
