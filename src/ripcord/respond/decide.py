"""Routing one request: the decisions the in-process guard and the gateway share.

Pure: no database, no web, no model call. The caller runs the model (a function for the
guard, an HTTP upstream for the gateway) where the plan says so:

    features = decide.substitute(state, features)
    decision = decide.plan(spec, state, breaker, features, request_id)
    if decision.answer is Answer.MODEL:
        ... call decision.version ...
        decision = decide.failed(decision) if it raised or timed out
        decision = decide.review(spec, decision, prediction) otherwise

The order, the first that decides wins: a paused endpoint (nothing served, the caller
reports the pause message); the kill switch (nothing served); the input contract (the
fallback answers, the violations are noted); an input guardrail that blocks (the fallback
answers); the breaker open, or half-open and this call not in the trial share, or no
version to serve (the fallback answers); else the serving version, or a canary for its
sticky share of request ids. After the model: an error answers with the fallback (and
counts toward the breaker, which the caller keeps); an output guardrail blocks (fallback)
or replaces the answer.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ripcord.events import Route
from ripcord.respond.breaker import CircuitBreaker, RouteState
from ripcord.sop import guardrails
from ripcord.sop.contract import violations
from ripcord.sop.schema import ModelSop


class Answer(enum.StrEnum):
    """Where the answer to one request comes from."""

    MODEL = "model"  # call `version`, serve its answer
    FALLBACK = "fallback"  # the model's fallback (rule, other model, fallback server)
    REPLACEMENT = "replacement"  # an output guardrail's replacement
    NOTHING = "nothing"  # killed or paused: nothing is served


@dataclass(frozen=True)
class Decision:
    """What one request gets: the route and version recorded, where its answer comes from,
    and the notes (contract violations, guardrail hits) recorded with it."""

    route: Route
    version: str
    answer: Answer
    notes: tuple[str, ...] = ()
    replacement: Any = None
    paused: str | None = None  # the pause message, when the endpoint is paused


def substitute(state: RouteState, features: Mapping[str, Any]) -> Mapping[str, Any]:
    """Disabled features get their stand-in values before anything else sees them."""
    if not state.disabled_features:
        return features
    return {**features, **state.disabled_features}


def plan(
    spec: ModelSop,
    state: RouteState,
    breaker: CircuitBreaker,
    features: Mapping[str, Any],
    request_id: str,
    *,
    fixed: str | None = None,
) -> Decision:
    """Decide one request before any model is called. `fixed` names a version that takes
    every request the breaker lets through (the guard wrapping one function); without it
    the routing table's serving version or a canary does."""
    if state.paused is not None:
        return Decision(Route.KILLED, "paused", Answer.NOTHING, ("paused",), paused=state.paused)
    if state.killed:
        return Decision(Route.KILLED, "killed", Answer.NOTHING)
    broken = violations(spec.contract, features)
    if broken:
        return Decision(Route.BLOCKED, "none", Answer.FALLBACK, broken)
    hit = guardrails.check(spec.guardrails, "input", features)
    notes: tuple[str, ...] = () if hit is None else (hit.violation,)
    if hit is not None and hit.action == "block":
        return Decision(Route.GUARDED, "none", Answer.FALLBACK, notes)
    version = fixed if fixed is not None else state.version_for(request_id)
    if version is None or not breaker.use_champion():
        return Decision(Route.FALLBACK, "fallback", Answer.FALLBACK, notes)
    return Decision(Route.CHAMPION, version, Answer.MODEL, notes)


def failed(decision: Decision) -> Decision:
    """The model raised, timed out or answered garbage: the fallback answers instead; the
    route and version stay, so the error is charged to the version that failed."""
    return replace(decision, answer=Answer.FALLBACK)


def review(spec: ModelSop, decision: Decision, prediction: Any) -> Decision:
    """The output guardrails on the model's prediction: pass, block or replace."""
    hit = guardrails.check(spec.guardrails, "output", prediction)
    if hit is None:
        return decision
    notes = (*decision.notes, hit.violation)
    if hit.action == "block":
        return replace(decision, route=Route.GUARDED, answer=Answer.FALLBACK, notes=notes)
    return replace(
        decision,
        route=Route.GUARDED,
        answer=Answer.REPLACEMENT,
        notes=notes,
        replacement=hit.replacement,
    )
