"""`ripcord demo`: the whole loop on a real model, in one process, on the embedded store.

1. Train version 1 (good) and version 2 (a broken upstream join) of a credit-risk model.
2. Deploy version 1 and serve seeded traffic through the guard; labels arrive late.
3. Deploy version 2. Detection raises a signal, triage assigns a severity, the breaker
   sends traffic to the fallback, and a rollback is proposed.
4. The rollback validates version 1 on the golden set, the named approver approves, version
   1 is promoted, traffic returns, and the verification window passes: resolved.
5. The post-incident report is written from the record.
"""

from __future__ import annotations

import shutil
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import func, select

from ripcord.app import Ripcord
from ripcord.clock import Clock
from ripcord.drills import credit
from ripcord.events import LabelEvent
from ripcord.incidents import service
from ripcord.review import report
from ripcord.sdk import Guard
from ripcord.store.tables import Incident

SOP = Path(__file__).parent / "credit-risk.sop.yaml"
MODEL = "credit-risk"
APPROVER = "carol"
ON_CALL = "alice"
LABEL_DELAY = 25  # requests between a prediction and its label


@dataclass(frozen=True)
class Outcome:
    incident_id: int | None
    report: Path | None
    requests: int


def prepare(folder: Path) -> Path:
    """Put the SOP file and its golden set where the demo runs; return the SOP path."""
    folder.mkdir(parents=True, exist_ok=True)
    sop = folder / SOP.name
    shutil.copyfile(SOP, sop)
    credit.write_golden(folder / "golden" / "credit-risk.csv")
    return sop


class Traffic:
    """Seeded requests through the guard, with labels delivered `LABEL_DELAY` requests late."""

    def __init__(self, rc: Ripcord, guard: Guard, seed: int) -> None:
        self.rc, self.guard = rc, guard
        self.stream = credit.traffic(seed)
        self.labels: deque[tuple[str, int]] = deque()
        self.served = 0

    def step(self) -> None:
        features, label, region = next(self.stream)
        served = self.guard(features, segment={"region": region})
        self.served += 1
        self.labels.append((served.request_id, label))
        if len(self.labels) > LABEL_DELAY:
            rid, truth = self.labels.popleft()
            self.rc.ingest(
                LabelEvent(model=MODEL, request_id=rid, label=truth, timestamp=self.rc.clock.now())
            )


def run(
    home: Path,
    *,
    console: Console,
    clock: Clock | None = None,
    seed: int = 2026,
    warmup: int = 1200,
    limit: int = 6000,
) -> Outcome:
    sop = prepare(home / ".ripcord" / "demo")
    rc = Ripcord.open(sop, home=home, clock=clock)
    try:
        return _run(rc, console, seed, warmup, limit, home)
    finally:
        rc.close()


def _register(rc: Ripcord, console: Console) -> None:
    with console.status("training two versions of credit-risk (scikit-learn)…"):
        with rc.db.session() as session:
            known = {v.version for v in rc.registry.versions(session, MODEL)}
        if "v1" not in known:
            rc.register(MODEL, "v1", credit.train(), actor="ci", meta={"data": "seed 7"})
        if "v2" not in known:
            rc.register(
                MODEL,
                "v2",
                credit.train(broken=True),
                actor="ci",
                parent="v1",
                meta={"data": "seed 7, late_payments join broken"},
            )
    console.print("[green]✓[/] trained and registered v1 (good) and v2 (broken join)")


def _run(rc: Ripcord, console: Console, seed: int, warmup: int, limit: int, home: Path) -> Outcome:
    _register(rc, console)
    rc.deploy(MODEL, "v1", actor="ci", reason="initial release")
    guard = rc.guard(MODEL)
    traffic = Traffic(rc, guard, seed)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("v1 serving", total=warmup)
        for _ in range(warmup):
            traffic.step()
            progress.advance(task)
        rc.deploy(MODEL, "v2", actor="deploy-bot", reason="weekly retrain")
        task = progress.add_task("v2 deployed → incident", total=limit)
        incident_id = _until_resolved(rc, traffic, progress, task, limit)
    if incident_id is None:
        console.print("[red]no incident was opened: the drill failed[/]")
        return Outcome(None, None, traffic.served)
    with rc.db.session() as session:
        path = report.write(session, incident_id, home / ".ripcord" / "reports")
    return Outcome(incident_id, path, traffic.served - warmup)


def _until_resolved(
    rc: Ripcord, traffic: Traffic, progress: Progress, task: TaskID, limit: int
) -> int | None:
    incident_id, before = None, _latest_id(rc)
    for _ in range(limit):
        traffic.step()
        progress.advance(task)
        incident = _latest(rc, after=before)
        if incident is None:
            continue
        incident_id = incident.id
        progress.update(task, description=f"incident {incident.id}: {incident.status}")
        _act_as_humans(rc, incident)
        if incident.status == "resolved":
            break
    return incident_id


def _act_as_humans(rc: Ripcord, incident: Incident) -> None:
    """The on-call engineer acknowledges the page; the named approver approves."""
    if incident.acknowledged_at is None:
        with rc.db.session() as session:
            service.acknowledge(
                session, service.get(session, incident.id), at=rc.clock.now(), actor=ON_CALL
            )
    for action in rc.pending_approvals():
        if action.incident_id == incident.id:
            rc.approve(action.id, actor=APPROVER)


def _latest_id(rc: Ripcord) -> int:
    with rc.db.session() as session:
        return session.scalar(select(func.max(Incident.id))) or 0


def _latest(rc: Ripcord, *, after: int) -> Incident | None:
    """The newest incident on the demo model opened during this run."""
    with rc.db.session() as session:
        query = (
            select(Incident)
            .where(Incident.model == MODEL, Incident.id > after)
            .order_by(Incident.id.desc())
            .limit(1)
        )
        return session.scalars(query).first()
