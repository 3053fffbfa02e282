"""The demo scenario end to end, then the CLI over what it stored (a restart in between)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select

from ripcord.cli import main
from ripcord.drills import demo
from ripcord.store.db import Database
from ripcord.store.tables import Action, AuditRow, Delivery, Incident, TimelineEntry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, demo.Outcome, str]:
    home = tmp_path_factory.mktemp("demo")
    console = Console(record=True, width=120)
    outcome = demo.run(home, console=console)
    return home, outcome, console.export_text()


def stored(home: Path) -> Database:
    return Database.open(f"sqlite:///{home / '.ripcord' / 'ripcord.db'}")


def test_the_loop_ran_as_the_sop_says(ran: tuple[Path, demo.Outcome, str]) -> None:
    home, outcome, _ = ran
    assert outcome.incident_id is not None
    db = stored(home)
    with db.session() as session:
        incident = session.get(Incident, outcome.incident_id)
        assert incident is not None
        assert (incident.model, incident.version, incident.severity) == ("credit-risk", "v2", 3)
        assert (incident.incident_type, incident.status, incident.owner) == (
            "model_quality",
            "resolved",
            "ml-credit",
        )
        entries = list(
            session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.incident_id == incident.id)
                .order_by(TimelineEntry.id)
            )
        )
        messages = [e.message for e in entries]
        action = session.scalars(select(Action)).one()
        approvals = list(
            session.scalars(select(AuditRow).where(AuditRow.action == "rollback.promoting"))
        )
    assert messages[0].startswith("SEV-2 model_quality: confidence")
    assert "open → contained: circuit breaker open: traffic on the fallback" in messages[1]
    assert any("golden set" in m and "v1 passed" in m for m in messages)
    assert any("rollback to v1 approved" in m for m in messages)
    assert "→ resolved" in messages[-1]
    assert (action.status, action.approved_by, action.data["target"]) == ("done", "carol", "v1")
    assert [a.actor for a in approvals] == ["carol"]
    assert (
        incident.started_at < incident.detected_at <= incident.contained_at < incident.resolved_at
    )  # type: ignore[operator]


def test_the_report_is_written_from_the_record(ran: tuple[Path, demo.Outcome, str]) -> None:
    _, outcome, _ = ran
    assert outcome.report is not None
    text = outcome.report.read_text()
    for heading in (
        "## Impact",
        "## Figures",
        "## Timeline",
        "## Evidence",
        "## Actions",
        "## Prevention",
    ):
        assert heading in text
    assert "| (confidence) |" in text
    assert "approved by carol" in text and "golden set, `v1`" in text


def test_the_cli_reads_the_stored_state_after_a_restart(
    ran: tuple[Path, demo.Outcome, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home, outcome, _ = ran
    monkeypatch.chdir(home)
    monkeypatch.delenv("RIPCORD_DATABASE_URL", raising=False)
    assert main(["incidents", "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(i["id"], i["severity"], i["status"]) for i in listed] == [
        (outcome.incident_id, "SEV-2", "resolved")
    ]
    assert main(["incidents", "show", str(outcome.incident_id)]) == 0
    shown = capsys.readouterr().out
    assert "rollback to v1 approved" in shown and "time to recover" in shown
    assert main(["rollback", "plan", "credit-risk"]) == 0
    planned = capsys.readouterr().out
    assert "serving now" in planned and "implicated in incident 1 (model_quality)" in planned
    assert main(["audit", "verify"]) == 0
    assert "audit chain verified" in capsys.readouterr().out
    assert main(["incidents", "show", "999"]) == 2
    assert "unknown incident: 999" in capsys.readouterr().out
    assert main(["incidents", "list", "--format", "yaml"]) == 1
    assert "--format: 'yaml' is not one of table, json" in capsys.readouterr().out


def test_the_summary_shows_progress_and_figures(ran: tuple[Path, demo.Outcome, str]) -> None:
    _, _, text = ran
    assert "v1 serving" in text and "trained and registered" in text


def test_a_second_run_opens_a_second_incident(ran: tuple[Path, demo.Outcome, str]) -> None:
    home, first, _ = ran
    again = demo.run(home, console=Console(file=open("/dev/null", "w")))  # noqa: SIM115
    assert again.incident_id == (first.incident_id or 0) + 1
    with stored(home).session() as session:
        statuses = list(session.scalars(select(Incident.status).order_by(Incident.id)))
    assert statuses == ["resolved", "resolved"]


def test_the_cli_reopens_a_resolved_incident_and_pages_again(
    ran: tuple[Path, demo.Outcome, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home, outcome, _ = ran
    monkeypatch.chdir(home)
    monkeypatch.delenv("RIPCORD_DATABASE_URL", raising=False)
    args = ["incidents", "reopen", str(outcome.incident_id), "--actor", "dana"]
    assert main([*args, "--reason", "confidence dropped again"]) == 0
    out = capsys.readouterr().out
    assert f"incident {outcome.incident_id} reopened by dana" in out
    with stored(home).session() as session:
        incident = session.get(Incident, outcome.incident_id)
        assert incident is not None
        assert (incident.status, incident.escalation_level) == ("open", 0)
        last_page = session.scalars(
            select(Delivery).where(Delivery.incident_id == incident.id).order_by(Delivery.id.desc())
        ).first()
        assert last_page is not None and (last_page.recipient, last_page.ok) == ("alice", True)
    assert main([*args, "--reason", "twice"]) == 1  # open is not resolved: refused
    assert "open" in capsys.readouterr().out
