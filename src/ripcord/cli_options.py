"""What the CLI's modules share: the console, the `--sop` option, the store and the actor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ripcord.store.db import Database

console = Console(highlight=False)
SopPath = Annotated[Path, typer.Option("--sop", envvar="RIPCORD_SOP", help="the SOP file")]
DEFAULT_SOP = Path(".ripcord/demo/credit-risk.sop.yaml")


def database() -> Database:
    return Database.open()


def me() -> str:
    """The audit actor for changes made from the CLI without `--actor`: the OS user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
