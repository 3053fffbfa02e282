"""ConsoleChannel: readable, coloured by severity, and immune to markup in messages."""

from __future__ import annotations

from dataclasses import replace

from rich.console import Console

from ripcord.notify import ConsoleChannel, MessageKind, Notification
from ripcord.notify.console import RESOLVED_STYLE, SEVERITY_STYLES, severity_style


def recording_console() -> Console:
    return Console(record=True, width=200, force_terminal=True, color_system="standard")


def test_one_readable_line_with_body_below(message: Notification) -> None:
    console = recording_console()
    ConsoleChannel(console=console).send(message)
    lines = console.export_text().splitlines()
    head = lines[0]
    for part in ("SEV-2", "PAGE", "#42", "pricing", "Accuracy under SLA", "alice", "ml-pricing"):
        assert part in head
    assert "ack by 2026-01-01T10:30+00:00" in head
    assert lines[1:] == ["    accuracy 0.81 < 0.90 over 500 events", "    all traffic"]


def test_colour_follows_severity(message: Notification) -> None:
    styles = {}
    for sev in ("SEV-1", "SEV-2", "SEV-3", "SEV-4"):
        console = recording_console()
        ConsoleChannel(console=console).send(replace(message, severity=sev))
        styles[sev] = console.export_text(styles=True).split(sev)[0]
        assert "\x1b[" in styles[sev], "the severity badge is styled"
    assert len(set(styles.values())) == 4
    assert severity_style(message) == SEVERITY_STYLES["SEV-2"]


def test_resolved_is_green_whatever_the_severity(message: Notification) -> None:
    resolved = replace(message, kind=MessageKind.RESOLVED, severity="SEV-1")
    assert severity_style(resolved) == RESOLVED_STYLE
    assert severity_style(replace(message, severity="SEV-9")) == "bold"


def test_markup_in_messages_is_printed_as_is(message: Notification) -> None:
    console = recording_console()
    odd = replace(message, model="pricing[eu]", title="[bold red]x[/] fired", body="")
    ConsoleChannel(console=console).send(odd)
    text = console.export_text()
    assert "pricing[eu]" in text
    assert "[bold red]x[/] fired" in text
    assert len(text.splitlines()) == 1


def test_name_and_repr() -> None:
    channel = ConsoleChannel("ops-console", recording_console())
    assert channel.name == "ops-console"
    assert repr(channel) == "ConsoleChannel(name='ops-console')"
