"""The command line: `ripcord demo`, `serve`, `gateway`, `sop validate`, `incidents …`, `approve`,
`report`, `audit verify`, `token create|list|revoke`. Errors from the tree in `errors.py`
are mapped to exit codes here, once."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from ripcord.cli_admin import notify_app, token_app
from ripcord.cli_options import DEFAULT_SOP, SopPath, console, database, runtime
from ripcord.cli_targets import config_app, parts_table
from ripcord.errors import InputError, NotFoundError, Problem, RipcordError

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
app.add_typer(token_app, name="token")
app.add_typer(notify_app, name="notify")


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
    incident_id: int,
    actor: Annotated[str, typer.Option(help="who acknowledges")],
    sop: SopPath = DEFAULT_SOP,
) -> None:
    """Acknowledge the page; the SOP's channels hear of it once (PagerDuty's acknowledge)."""
    from ripcord.incidents import desk

    with runtime(sop) as rc:
        desk.acknowledge(rc, incident_id, actor=actor)
    console.print(f"incident {incident_id} acknowledged by {actor}")


@incidents_app.command("resolve")
def incidents_resolve(
    incident_id: int,
    actor: Annotated[str, typer.Option()],
    reason: Annotated[str, typer.Option()],
    sop: SopPath = DEFAULT_SOP,
) -> None:
    """Resolve by hand (the reason is audited; the channels get the resolution notice)."""
    from ripcord.incidents import desk

    with runtime(sop) as rc:
        desk.resolve(rc, incident_id, reason, actor=actor)
    console.print(f"incident {incident_id} resolved by {actor}")


@incidents_app.command("reopen")
def incidents_reopen(
    incident_id: int,
    actor: Annotated[str, typer.Option()],
    reason: Annotated[str, typer.Option()],
    sop: SopPath = DEFAULT_SOP,
) -> None:
    """Reopen a resolved incident: a fresh ack deadline, the primary paged again."""
    from ripcord.incidents import desk

    with runtime(sop) as rc:
        incident = desk.reopen(rc, incident_id, reason, actor=actor)
    console.print(f"incident {incident_id} reopened by {actor}; ack by {incident.ack_by:%H:%M} UTC")


rollback_app = typer.Typer(no_args_is_help=True, help="Rollback targets and their choice.")
app.add_typer(rollback_app, name="rollback")
app.add_typer(config_app, name="config")


@rollback_app.command("plan")
def rollback_plan(model: str, sop: SopPath = DEFAULT_SOP) -> None:
    """Which version a rollback of MODEL would go to, and why each other one would not."""
    from rich.table import Table

    from ripcord.respond.plan import plan

    with runtime(sop) as rc:
        rc.model(model)
        serving = rc.routes.state(model).serving
        with rc.db.session() as session:
            choices = plan(session, rc.registry, model, serving=serving)
        parts = parts_table(rc, model)
    table = Table(
        title=f"rollback plan for {model} (serving: {serving or 'nothing'})", title_justify="left"
    )
    for column in ("version", "candidate", "why", "last golden-set check"):
        table.add_column(column)
    for c in choices:
        check = {None: "never", True: "passed", False: "failed"}[c.last_validation]
        table.add_row(c.version, "[green]yes[/]" if c.eligible else "no", c.reason, check)
    console.print(table)
    if parts is not None:
        console.print(parts)


@app.command()
def approve(
    action_id: int,
    actor: Annotated[str, typer.Option(help="the approver")],
    sop: SopPath = DEFAULT_SOP,
) -> None:
    """Approve a rollback that the policy holds for approval."""
    with runtime(sop) as rc:
        step = rc.approve(action_id, actor=actor)
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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    sop: SopPath = DEFAULT_SOP,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="no API tokens: for local use only")
    ] = False,
    max_queued_events: Annotated[
        int,
        typer.Option(min=1, help="ingestion answers 429 past this many events in its queue"),
    ] = 10_000,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs, Prometheus at /metrics)."""
    import uvicorn

    from ripcord import access
    from ripcord.api import create_app
    from ripcord.app import Ripcord

    rc = Ripcord.open(sop, home=Path.cwd())
    with rc.db.session() as session:
        active = [t for t in access.tokens(session) if t.revoked_at is None]
    if no_auth:
        console.print("[yellow]--no-auth:[/] every caller is an admin; keep it on loopback")
    elif not active:
        console.print(
            "no API tokens yet: make one with [bold]ripcord token create NAME --role admin[/]"
        )
    try:
        api = create_app(rc, tokens_required=not no_auth, max_queued_events=max_queued_events)
        uvicorn.run(api, host=host, port=port)
    finally:
        rc.close()


@app.command()
def gateway(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8081,
    sop: SopPath = DEFAULT_SOP,
) -> None:
    """Serve the HTTP gateway: POST /models/MODEL/predict, routed by the routing table to
    the upstreams of the SOP file's gateway section (changes apply within a second)."""
    from ripcord.gateway import create_process_gateway
    from ripcord.gateway.server import serve

    gateway_app = create_process_gateway(sop, home=Path.cwd())  # refuses a file without one
    console.print(f"gateway on http://{host}:{port}; detection runs in a child process")
    serve(gateway_app, host=host, port=port)  # uvicorn, tuned for the gateway (see there)


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
