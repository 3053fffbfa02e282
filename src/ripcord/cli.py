"""The command line: `ripcord demo`, `sop validate`, `incidents …`, `approve`, `report`,
`audit verify`. Errors from the tree in `errors.py` are mapped to exit codes here, once."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select

from ripcord.errors import InputError, NotFoundError, Problem, RipcordError
from ripcord.store.db import Database

console = Console(highlight=False)
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Ripcord: incident response and validated rollback for ML models.",
)
sop_app = typer.Typer(no_args_is_help=True, help="Check and show SOP files.")
incidents_app = typer.Typer(
    no_args_is_help=True, help="List, show, acknowledge, resolve incidents."
)
audit_app = typer.Typer(no_args_is_help=True, help="The append-only audit log.")
app.add_typer(sop_app, name="sop")
app.add_typer(incidents_app, name="incidents")
app.add_typer(audit_app, name="audit")

SopPath = Annotated[Path, typer.Option("--sop", envvar="RIPCORD_SOP", help="the SOP file")]
DEFAULT_SOP = Path(".ripcord/demo/credit-risk.sop.yaml")


def database() -> Database:
    return Database.open()


@app.command()
def demo(home: Annotated[Path, typer.Option(help="where .ripcord/ is kept")] = Path(".")) -> None:
    """Run the end-to-end drill: bad deploy → detection → containment → validated rollback."""
    from ripcord.cli_views import demo_summary
    from ripcord.drills import demo as drill

    outcome = drill.run(home.resolve(), console=console)
    if outcome.incident_id is None:
        raise typer.Exit(1)
    with database().session() as session:
        demo_summary(console, session, outcome.incident_id, outcome.report, outcome.requests)


@sop_app.command("validate")
def sop_validate(file: Path) -> None:
    """Print every problem with its path and value (exit 1), or a summary of a valid file."""
    from ripcord.cli_views import sop_summary
    from ripcord.detect import default_registry
    from ripcord.sop import load

    sop = load.load(file, default_registry())
    sop_summary(console, sop, file)


@incidents_app.command("list")
def incidents_list(
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    status: Annotated[str | None, typer.Option(help="only this status")] = None,
) -> None:
    """Incidents, newest first."""
    from ripcord.cli_views import incident_dict, incidents_table
    from ripcord.store.tables import Incident

    if fmt not in ("table", "json"):
        raise InputError("option", [Problem("--format", fmt, "is not one of table, json")])
    with database().session() as session:
        query = select(Incident).order_by(Incident.id.desc())
        if status:
            query = query.where(Incident.status == status)
        rows = list(session.scalars(query))
    if fmt == "json":
        typer.echo(json.dumps([incident_dict(i) for i in rows], indent=2))
    else:
        console.print(incidents_table(rows))


@incidents_app.command("show")
def incidents_show(incident_id: int) -> None:
    """One incident with its timeline."""
    from ripcord.cli_views import incident_detail

    with database().session() as session:
        incident_detail(console, session, incident_id)


@incidents_app.command("ack")
def incidents_ack(
    incident_id: int, actor: Annotated[str, typer.Option(help="who acknowledges")]
) -> None:
    """Acknowledge the page."""
    from ripcord.clock import SystemClock
    from ripcord.incidents import service

    with database().session() as session:
        service.acknowledge(
            session, service.get(session, incident_id), at=SystemClock().now(), actor=actor
        )
    console.print(f"incident {incident_id} acknowledged by {actor}")


@incidents_app.command("resolve")
def incidents_resolve(
    incident_id: int, actor: Annotated[str, typer.Option()], reason: Annotated[str, typer.Option()]
) -> None:
    """Resolve by hand (the reason is audited)."""
    from ripcord.clock import SystemClock
    from ripcord.incidents import service
    from ripcord.incidents.lifecycle import Status

    with database().session() as session:
        incident = service.get(session, incident_id)
        service.transition(
            session, incident, Status.RESOLVED, at=SystemClock().now(), actor=actor, reason=reason
        )
    console.print(f"incident {incident_id} resolved by {actor}")


@app.command()
def approve(
    action_id: int,
    actor: Annotated[str, typer.Option(help="the approver")],
    sop: SopPath = DEFAULT_SOP,
) -> None:
    """Approve a rollback that the policy holds for approval."""
    from ripcord.app import Ripcord

    rc = Ripcord.open(sop, home=Path.cwd())
    try:
        step = rc.approve(action_id, actor=actor)
    finally:
        rc.close()
    console.print(f"action {action_id} approved by {actor}; rollback is now {step.value}")


@app.command()
def report(
    incident_id: int, out: Annotated[Path, typer.Option(help="folder")] = Path(".ripcord/reports")
) -> None:
    """Write the post-incident report (Markdown) from the recorded timeline."""
    from ripcord.review import report as review

    with database().session() as session:
        path = review.write(session, incident_id, out)
    console.print(f"report written: {path}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the hash chain; exit 1 at the first edited or missing row."""
    from ripcord.store import audit

    with database().session() as session:
        result = audit.verify(session)
    console.print(f"[green]audit chain verified[/]: {result.rows} rows, head {result.head}")


EXIT_CODES: tuple[tuple[type[RipcordError], int], ...] = (
    (InputError, 1),
    (NotFoundError, 2),
    (RipcordError, 1),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (tests call it directly)."""
    os.environ.setdefault("COLUMNS", "120")
    try:
        app(args=list(argv) if argv is not None else None, prog_name="ripcord")
    except RipcordError as exc:
        console.print(f"[red]error:[/] {exc}", soft_wrap=True, markup=True, highlight=False)
        return next(code for cls, code in EXIT_CODES if isinstance(exc, cls))
    except SystemExit as exc:  # typer ends every run (and every usage error) this way
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def run() -> None:
    sys.exit(main())
