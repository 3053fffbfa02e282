"""What the CLI shows: rich tables and panels built from stored records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from ripcord.incidents import service
from ripcord.review.figures import Figures
from ripcord.review.report import duration
from ripcord.sop.schema import Sop
from ripcord.sop.severity import Severity
from ripcord.store.tables import Incident, TimelineEntry

SEV_STYLE = {"SEV-1": "bold red", "SEV-2": "red", "SEV-3": "yellow", "SEV-4": "cyan"}


def incident_dict(i: Incident) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": i.id,
        "model": i.model,
        "version": i.version,
        "severity": Severity(i.severity).label,
        "type": i.incident_type,
        "segment": i.segment or None,
        "status": i.status,
        "title": i.title,
        "owner": i.owner,
        "started_at": iso(i.started_at),
        "detected_at": iso(i.detected_at),
        "acknowledged_at": iso(i.acknowledged_at),
        "contained_at": iso(i.contained_at),
        "resolved_at": iso(i.resolved_at),
    }


def incidents_table(rows: list[Incident]) -> Table:
    table = Table(title="incidents", title_justify="left")
    for column in ("id", "severity", "model", "version", "type", "status", "opened (UTC)", "title"):
        table.add_column(column)
    for i in rows:
        sev = Severity(i.severity).label
        table.add_row(
            str(i.id),
            f"[{SEV_STYLE[sev]}]{sev}[/]",
            i.model,
            i.version or "",
            i.incident_type,
            i.status,
            f"{i.detected_at:%Y-%m-%d %H:%M:%S}",
            i.title,
        )
    if not rows:
        table.caption = "no incidents"
    return table


def timeline_table(entries: list[TimelineEntry]) -> Table:
    table = Table(title="timeline", title_justify="left")
    for column in ("time (UTC)", "kind", "actor", "what"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.at.strftime("%H:%M:%S.%f")[:-3], e.kind, e.actor, e.message)
    return table


def figures_table(incident: Incident) -> Table:
    figures = Figures.of(incident)
    table = Table(title="figures (from the deploy)", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("time to detect (MTTD)", duration(figures.time_to_detect_s))
    table.add_row("time to acknowledge", duration(figures.time_to_acknowledge_s))
    table.add_row("time to contain", duration(figures.time_to_contain_s))
    table.add_row("time to recover (MTTR)", duration(figures.time_to_recover_s))
    return table


def incident_detail(console: Console, session: Session, incident_id: int) -> None:
    i = service.get(session, incident_id)
    sev = Severity(i.severity).label
    console.print(
        Panel(
            f"[{SEV_STYLE[sev]}]{sev}[/] {i.incident_type} · {i.status} · owner {i.owner}",
            title=f"incident {i.id}: {i.title}",
            title_align="left",
        )
    )
    entries = list(
        session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == i.id)
            .order_by(TimelineEntry.at, TimelineEntry.id)
        )
    )
    console.print(timeline_table(entries))
    console.print(figures_table(i))


def demo_summary(
    console: Console, session: Session, incident_id: int, report: Path | None, requests: int
) -> None:
    incident_detail(console, session, incident_id)
    console.print(f"{requests} requests served after the v2 deploy · report: [bold]{report}[/]")
    console.print(
        "next: [bold]ripcord incidents list[/] · "
        f"[bold]ripcord incidents show {incident_id}[/] · [bold]ripcord audit verify[/]"
    )


def sop_summary(console: Console, sop: Sop, path: Path) -> None:
    table = Table(title=f"{path}: valid", title_justify="left")
    for column in ("model", "owner", "SLAs", "detectors", "fallback", "golden set"):
        table.add_column(column)
    for name, m in sop.models.items():
        slas = ", ".join(f"{k}={v}" for k, v in m.slas.model_dump().items() if v is not None)
        fallback = (
            "rule"
            if m.fallback and m.fallback.rule
            else (m.fallback.model if m.fallback else "none")
        )
        table.add_row(
            name,
            m.owner,
            slas,
            ", ".join(d.key for d in m.detectors) or "none",
            fallback or "none",
            m.golden_set.path if m.golden_set else "none",
        )
    console.print(table)
    response = ", ".join(
        f"{sev}: {'contain' if r.contain else 'notify'}"
        f"{'' if r.rollback == 'none' else ' + rollback (' + r.rollback + ')'}"
        for sev, r in sop.response.items()
    )
    console.print(f"response: {response}")
    teams = ", ".join(
        f"{n} ({t.primary or 'rotation of ' + ', '.join(t.rotation.people if t.rotation else ())})"
        for n, t in sop.teams.items()
    )
    approvers = ", ".join(sop.rollback.approvers) or "any"
    console.print(f"teams: {teams} · channels: {', '.join(sop.channels)} · approvers: {approvers}")
