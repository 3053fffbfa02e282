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
from rich.console import Console
from sqlalchemy import select

from ripcord.cli_targets import config_app, parts_table
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
token_app = typer.Typer(no_args_is_help=True, help="API tokens for `ripcord serve`.")
app.add_typer(sop_app, name="sop")
app.add_typer(incidents_app, name="incidents")
app.add_typer(audit_app, name="audit")
app.add_typer(token_app, name="token")

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


@incidents_app.command("reopen")
def incidents_reopen(
    incident_id: int,
    actor: Annotated[str, typer.Option()],
    reason: Annotated[str, typer.Option()],
    sop: SopPath = DEFAULT_SOP,
) -> None:
    """Reopen a resolved incident: a fresh ack deadline, the primary paged again."""
    from ripcord.app import Ripcord
    from ripcord.incidents import desk

    rc = Ripcord.open(sop, home=Path.cwd())
    try:
        incident = desk.reopen(rc, incident_id, reason, actor=actor)
    finally:
        rc.close()
    console.print(f"incident {incident_id} reopened by {actor}; ack by {incident.ack_by:%H:%M} UTC")


rollback_app = typer.Typer(no_args_is_help=True, help="Rollback targets and their choice.")
app.add_typer(rollback_app, name="rollback")
app.add_typer(config_app, name="config")


@rollback_app.command("plan")
def rollback_plan(model: str, sop: SopPath = DEFAULT_SOP) -> None:
    """Which version a rollback of MODEL would go to, and why each other one would not."""
    from rich.table import Table

    from ripcord.app import Ripcord
    from ripcord.respond.plan import plan

    rc = Ripcord.open(sop, home=Path.cwd())
    try:
        rc.model(model)
        serving = rc.routes.state(model).serving
        with rc.db.session() as session:
            choices = plan(session, rc.registry, model, serving=serving)
        parts = parts_table(rc, model)
    finally:
        rc.close()
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


# -- notify: dead letters ----------------------------------------------------------------
notify_app = typer.Typer(no_args_is_help=True, help="Notifications that failed: list, replay.")
app.add_typer(notify_app, name="notify")


@notify_app.command("dead-letters")
def notify_dead_letters(
    include_replayed: Annotated[bool, typer.Option("--all", help="include replayed ones")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Messages a channel gave up on after its last retry, oldest first."""
    from rich.markup import escape
    from rich.table import Table

    from ripcord.notify.deadletter import as_dict, dead_letters

    if fmt not in ("table", "json"):
        raise InputError("option", [Problem("--format", fmt, "is not one of table, json")])
    with database().session() as session:
        rows = [as_dict(d) for d in dead_letters(session, include_replayed=include_replayed)]
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="dead letters", title_justify="left")
    for column in ("id", "created (UTC)", "incident", "channel", "kind", "to", "tries", "error"):
        table.add_column(column)
    for row in rows:
        error = "replayed" if row["replayed_at"] else escape(row["error"])
        cells = (row["created_at"][:19], row["incident_id"], row["channel"], row["kind"])
        table.add_row(
            str(row["id"]), *map(str, cells), row["recipient"], str(row["attempts"]), error
        )
    table.caption = None if rows else "no dead letters"
    console.print(table)


@notify_app.command("replay")
def notify_replay(
    actor: Annotated[str, typer.Option(help="who replays (audited)")],
    letter_id: Annotated[int | None, typer.Argument(help="a dead letter's id")] = None,
    every: Annotated[
        bool, typer.Option("--all", help="every dead letter not yet replayed")
    ] = False,
    sop: SopPath = DEFAULT_SOP,
) -> None:
    """Send dead letters again through the SOP file's channels (exit 1 if any fails)."""
    from rich.markup import escape

    from ripcord.detect import default_registry
    from ripcord.notify import Notifier, build_channels, deadletter
    from ripcord.sop import load

    if (letter_id is not None) == every:  # exactly one of them
        raise InputError(
            "arguments", [Problem("ID", letter_id, "give a dead letter's id or --all")]
        )
    spec = load.load(sop, default_registry())
    notifier = Notifier(build_channels(spec.channels, people=spec.people))
    db = database()
    try:
        if letter_id is not None:
            with db.session() as session:
                results = [deadletter.replay(session, letter_id, notifier.channels, actor=actor)]
        else:
            results = deadletter.replay_all(db, notifier.channels, actor=actor)
    finally:
        notifier.close()
    for r in results:
        state = "[green]replayed[/]" if r.ok else f"[red]failed[/] ({escape(r.error or '')})"
        console.print(f"dead letter {r.letter_id} to {r.channel}: {state}")
    if not results:
        console.print("no dead letters to replay")
    if not all(r.ok for r in results):
        raise typer.Exit(1)


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


@token_app.command("create")
def token_create(
    name: str, role: Annotated[str, typer.Option(help="viewer, responder, approver or admin")]
) -> None:
    """Make an API token; it is printed once and only its hash is kept."""
    from ripcord import access
    from ripcord.clock import SystemClock

    with database().session() as session:
        _, token = access.create(
            session, name, access.Role.parse(role, "--role"), at=SystemClock().now(), actor=_me()
        )
    console.print(f"token for {name} ({role}); it is shown only this once:")
    typer.echo(token)


@token_app.command("list")
def token_list() -> None:
    """Tokens with their role and state (never the token)."""
    from rich.table import Table

    from ripcord import access

    table = Table(title="API tokens", title_justify="left")
    for column in ("name", "role", "created (UTC)", "state"):
        table.add_column(column)
    with database().session() as session:
        for t in access.tokens(session):
            state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
            table.add_row(t.name, t.role, f"{t.created_at:%Y-%m-%d %H:%M}", state)
    table.caption = None if table.row_count else "no tokens"
    console.print(table)


@token_app.command("revoke")
def token_revoke(name: str) -> None:
    """Revoke a token at once."""
    from ripcord import access
    from ripcord.clock import SystemClock

    with database().session() as session:
        access.revoke(session, name, at=SystemClock().now(), actor=_me())
    console.print(f"token {name} revoked")


def _me() -> str:
    """The audit actor for CLI token changes: the operating-system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


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
