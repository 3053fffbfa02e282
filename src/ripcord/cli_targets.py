"""`ripcord config set|activate|history`, and the parts table of `ripcord rollback plan`.

Config and dataset versions of the rollback targets a model's SOP declares (`targets:`);
see registry/artifacts.py. Kept apart from cli.py so that file stays a list of verbs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from ripcord.cli_options import DEFAULT_SOP, SopPath, console, runtime
from ripcord.errors import InputError, Problem

if TYPE_CHECKING:
    from ripcord.app import Ripcord

config_app = typer.Typer(
    no_args_is_help=True,
    help="Config and dataset versions of a model's rollback targets: set, activate, history.",
)
Actor = Annotated[str, typer.Option(help="who makes the change (audited)")]
Reason = Annotated[str, typer.Option(help="why (audited)")]


def read_document(path: Path) -> dict[str, Any]:
    """A config document from a JSON or YAML file (JSON is YAML); it must be a mapping."""
    if not path.is_file():
        raise InputError("config", [Problem("FILE", str(path), "is not a file")])
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        problem = Problem("FILE", str(path), f"is not JSON or YAML: {exc}")
        raise InputError("config", [problem]) from None
    if not isinstance(document, dict):
        message = f"holds a {type(document).__name__}, not a mapping"
        raise InputError("config", [Problem("FILE", str(path), message)])
    return document


@config_app.command("set")
def config_set(
    model: str,
    target: str,
    file: Path,
    actor: Actor,
    reason: Reason = "",
    version: Annotated[str | None, typer.Option(help="the version's id (default r<n>)")] = None,
    activate: Annotated[bool, typer.Option(help="make it the active version")] = True,
    sop: SopPath = DEFAULT_SOP,
) -> None:
    """Record FILE (JSON or YAML) as a new version of a config target, and activate it."""
    with runtime(sop) as rc:
        made = rc.targets.record_config(
            model,
            target,
            read_document(file),
            actor=actor,
            reason=reason,
            version=version,
            activate=activate,
        )
    state = "active" if activate else "recorded, not active"
    console.print(f"{model}/{target} version {made}: {state}")


@config_app.command("activate")
def config_activate(
    model: str,
    target: str,
    version: str,
    actor: Actor,
    reason: Reason = "",
    sop: SopPath = DEFAULT_SOP,
) -> None:
    """Make VERSION the active version of a config or dataset target (by hand)."""
    with runtime(sop) as rc:
        changed = rc.targets.activate(model, target, version, actor=actor, reason=reason)
    console.print(
        f"{model}/{target}: {version} " + ("activated" if changed else "was already active")
    )


@config_app.command("history")
def config_history(
    model: str,
    target: str,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    sop: SopPath = DEFAULT_SOP,
) -> None:
    """Every version of a target with its lineage and health, newest first."""
    if fmt not in ("table", "json"):
        raise InputError("option", [Problem("--format", fmt, "is not one of table, json")])
    with runtime(sop) as rc:
        rows = rc.targets.versions(model, target)
        current = rc.targets.active(model, target)
    active = current.version if current else None
    items: list[dict[str, Any]] = [
        {
            "version": r.version,
            "active": r.version == active,
            "parent": r.parent,
            "health": r.health,
            "sha256": r.sha256,
            "uri": r.uri,
            "created_at": r.created_at.isoformat(),
            "created_by": r.created_by,
            "reason": r.reason,
        }
        for r in rows
    ]
    if fmt == "json":
        typer.echo(json.dumps(items, indent=2))
        return
    table = Table(title=f"{model}/{target} versions (newest first)", title_justify="left")
    for column in ("version", "active", "parent", "health", "sha256", "created (UTC)", "by", "why"):
        table.add_column(column)
    for i in items:
        table.add_row(
            i["version"],
            "[green]yes[/]" if i["active"] else "",
            i["parent"] or "",
            i["health"],
            i["sha256"][:12],
            i["created_at"][:19],
            i["created_by"],
            escape(i["reason"]),
        )
    table.caption = None if items else "no versions"
    console.print(table)


def parts_table(rc: Ripcord, model: str) -> Table | None:
    """The rollback's parts in the SOP's order with what each would do, or None for a
    model-only rollback."""
    from ripcord.respond import parts
    from ripcord.sop.schema import MODEL_PART

    spec = rc.sop.models[model]
    if spec.rollback.order == (MODEL_PART,):
        return None
    table = Table(
        title=f"rollback parts, in order: {' → '.join(spec.rollback.order)}", title_justify="left"
    )
    for column in ("part", "kind", "active", "restore to", "why"):
        table.add_column(column)
    with rc.db.session() as session:
        for name in spec.rollback.order:
            if name == MODEL_PART:
                table.add_row(name, "model", rc.routes.state(model).serving or "", "see above", "")
                continue
            c = parts.choose(session, rc.artifacts, model, name, spec.targets[name].kind)
            table.add_row(name, c.kind, c.active or "", c.restore_to or "(kept)", escape(c.reason))
    return table
