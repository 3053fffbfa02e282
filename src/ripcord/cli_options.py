"""What the CLI's modules share: the console, the `--sop` option, the store and the actor."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ripcord.store.db import Database

if TYPE_CHECKING:
    from ripcord.app import Ripcord

console = Console(highlight=False)
SopPath = Annotated[Path, typer.Option("--sop", envvar="RIPCORD_SOP", help="the SOP file")]
DEFAULT_SOP = Path(".ripcord/demo/credit-risk.sop.yaml")


def database() -> Database:
    return Database.open()


@contextmanager
def runtime(sop: Path) -> Iterator[Ripcord]:
    """The runtime over the SOP file and the store, closed (its messages sent) on the way out."""
    from ripcord.app import Ripcord

    rc = Ripcord.open(sop, home=Path.cwd())
    try:
        yield rc
    finally:
        rc.close()


def me() -> str:
    """The audit actor for changes made from the CLI without `--actor`: the OS user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
