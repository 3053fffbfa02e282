"""The post-incident report, written from what was recorded: never from memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session

from ripcord.incidents import service
from ripcord.review.figures import FeatureShift, Figures, feature_shifts
from ripcord.sop.severity import Severity
from ripcord.store.tables import Action, Delivery, EventRow, Incident, SignalRow, TimelineEntry

TEMPLATES = Path(__file__).parent / "templates"
BASELINE_EVENTS = 500


@dataclass(frozen=True)
class Impact:
    requests_affected: int  # served by the faulty version before containment
    requests_on_fallback: int
    window_start: Any
    window_end: Any


@dataclass(frozen=True)
class ReportData:
    incident: Incident
    severity: str
    figures: Figures
    impact: Impact
    timeline: list[TimelineEntry]
    signals: list[SignalRow]
    actions: list[Action]
    deliveries: list[Delivery]
    shifts: list[FeatureShift]
    prevention: list[str]


def _payloads(
    session: Session, *conditions: Any, newest: int | None = None
) -> list[dict[str, Any]]:
    query = select(EventRow.payload).where(EventRow.kind == "inference", *conditions)
    if newest:
        query = query.order_by(EventRow.id.desc()).limit(newest)
    return list(session.scalars(query))


def _observed(payload: dict[str, Any]) -> dict[str, Any]:
    """Features plus what the model answered, so a model fault shows beside a data fault."""
    row = dict(payload.get("features") or {})
    row["(prediction)"] = payload.get("prediction")
    row["(confidence)"] = payload.get("confidence")
    return row


def gather(session: Session, incident_id: int) -> ReportData:
    incident = service.get(session, incident_id)
    end = incident.contained_at or incident.resolved_at or incident.detected_at
    model = EventRow.model == incident.model
    faulty = _payloads(
        session,
        model,
        EventRow.version == incident.version,
        EventRow.at >= incident.started_at,
        EventRow.at <= end,
    )
    baseline = _payloads(
        session,
        model,
        EventRow.at < incident.started_at,
        EventRow.route == "champion",
        newest=BASELINE_EVENTS,
    )
    fallback = _payloads(
        session, model, EventRow.route == "fallback", EventRow.at >= incident.started_at
    )
    by_incident = {"incident_id": incident_id}
    timeline = list(
        session.scalars(
            select(TimelineEntry)
            .filter_by(**by_incident)
            .order_by(TimelineEntry.at, TimelineEntry.id)
        )
    )
    signals = list(
        session.scalars(select(SignalRow).filter_by(**by_incident).order_by(SignalRow.at))
    )
    actions = list(session.scalars(select(Action).filter_by(**by_incident).order_by(Action.id)))
    deliveries = list(
        session.scalars(select(Delivery).filter_by(**by_incident).order_by(Delivery.id))
    )
    figures = Figures.of(incident)
    shifts = feature_shifts([_observed(p) for p in baseline], [_observed(p) for p in faulty], top=6)
    return ReportData(
        incident=incident,
        severity=Severity(incident.severity).label,
        figures=figures,
        impact=Impact(len(faulty), len(fallback), incident.started_at, incident.resolved_at or end),
        timeline=timeline,
        signals=signals,
        actions=actions,
        deliveries=deliveries,
        shifts=shifts,
        prevention=prevention_items(incident, signals, actions, shifts, deliveries),
    )


def prevention_items(
    incident: Incident,
    signals: list[SignalRow],
    actions: list[Action],
    shifts: list[FeatureShift],
    deliveries: list[Delivery],
) -> list[str]:
    """Suggestions drawn from the record, each saying what in the record prompted it."""
    items = []
    for action in actions:
        for tried in action.data.get("tried", []):
            if not tried.get("passed"):
                items.append(
                    f"Version {tried['version']} failed the golden set during rollback: "
                    "retire it or fix it before it is a rollback candidate again."
                )
    items.append(
        f"Gate deploys of {incident.model} on the golden set: the rollback validated "
        "its target there; the faulty version was never checked before it served."
    )
    inputs = [s for s in shifts if not s.feature.startswith("(")]
    outputs_moved = any(s.moved for s in shifts if s.feature.startswith("("))
    if inputs and outputs_moved and not any(s.moved for s in inputs):
        items.append(
            "No input moved (KS p >= 0.01 on every feature) while the outputs did: the fault is in "
            "the model or its pipeline, so review the training pipeline of "
            f"{incident.version}."
        )
    if signals and signals[0].window >= 200:
        items.append(
            f"The first signal ({signals[0].detector}) needed a {signals[0].window}-event "
            "window: a smaller window or a change-point detector would detect sooner."
        )
    if incident.acknowledged_at is None:
        items.append(
            f"The page was never acknowledged: check the on-call routing for {incident.owner}."
        )
    if any(not d.ok for d in deliveries):
        failed = sorted({d.channel for d in deliveries if not d.ok})
        items.append(f"Notifications failed on {', '.join(failed)}: fix or replace the channel.")
    return items


def duration(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def render(data: ReportData) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["duration"] = duration
    return env.get_template("report.md.j2").render(d=data, i=data.incident)


def write(session: Session, incident_id: int, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"incident-{incident_id}.md"
    path.write_text(render(gather(session, incident_id)))
    return path
