"""`ripcord token create|list|revoke` and `ripcord notify dead-letters|replay`: the
service's housekeeping, kept apart from cli.py so that file stays a list of verbs."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ripcord.cli_options import DEFAULT_SOP, SopPath, console, database, me
from ripcord.errors import InputError, Problem

token_app = typer.Typer(no_args_is_help=True, help="API tokens for `ripcord serve`.")
notify_app = typer.Typer(no_args_is_help=True, help="Notifications that failed: list, replay.")


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


@token_app.command("create")
def token_create(
    name: str, role: Annotated[str, typer.Option(help="viewer, responder, approver or admin")]
) -> None:
    """Make an API token; it is printed once and only its hash is kept."""
    from ripcord import access
    from ripcord.clock import SystemClock

    with database().session() as session:
        _, token = access.create(
            session, name, access.Role.parse(role, "--role"), at=SystemClock().now(), actor=me()
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
        access.revoke(session, name, at=SystemClock().now(), actor=me())
    console.print(f"token {name} revoked")
