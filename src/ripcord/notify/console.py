"""The console channel: one coloured line per message, for a terminal or a log tail.

It is the channel every SOP has by default, so it must never fail on odd input: titles and
bodies are rendered as plain text (a model name like `pricing[eu]` is not rich markup).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ripcord.notify.base import MessageKind, Notification

# Why these colours: the on-call eye should find a SEV-1 in a scrolling terminal at once,
# and a resolution should read as "all clear" whatever its original severity.
SEVERITY_STYLES: dict[str, str] = {
    "SEV-1": "bold white on red",
    "SEV-2": "bold red",
    "SEV-3": "yellow",
    "SEV-4": "cyan",
}
RESOLVED_STYLE = "bold green"
DEFAULT_STYLE = "bold"


def severity_style(message: Notification) -> str:
    """The rich style for a message: by severity, except resolutions, which are green."""
    if message.kind is MessageKind.RESOLVED:
        return RESOLVED_STYLE
    return SEVERITY_STYLES.get(message.severity.upper(), DEFAULT_STYLE)


def render(message: Notification) -> Text:
    """The message as rich Text: a headline, then the body (if any) indented below it."""
    style = severity_style(message)
    text = Text.assemble(
        (f" {message.severity} ", style),
        " ",
        (message.kind.value.upper(), "bold"),
        f" #{message.incident_id} ",
        (message.model, "magenta"),
        " — ",
        (message.title, "bold"),
        (f"  → {message.recipient} ({message.team})", "dim"),
    )
    if message.ack_by is not None:
        text.append(f"  ack by {message.ack_by.isoformat(timespec='minutes')}", "dim")
    if message.body.strip():
        indented = "\n".join(f"    {line}" for line in message.body.strip().splitlines())
        text.append("\n" + indented)
    return text


class ConsoleChannel:
    """Prints each message on a rich Console (stderr by default, so that a CLI's stdout
    stays clean for tables and JSON that other programs read)."""

    def __init__(self, name: str = "console", console: Console | None = None) -> None:
        if not name:
            raise ValueError("name: a channel needs a non-empty name")
        self.name = name
        self.console = console if console is not None else Console(stderr=True)

    def __repr__(self) -> str:
        return f"ConsoleChannel(name={self.name!r})"

    def send(self, message: Notification) -> None:
        """Print the message; rich serialises concurrent prints, so threads may share it."""
        self.console.print(render(message), soft_wrap=False, highlight=False)
