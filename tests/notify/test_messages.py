"""Message templates: the default set in business terms, and SOP overrides."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ripcord.errors import InputError
from ripcord.notify import IncidentFacts, MessageKind, MessageTemplates, render
from ripcord.notify.messages import problems, split
from ripcord.sop.channels import MessageTemplatesSpec

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
FACTS = IncidentFacts(
    incident_id=7,
    model="credit-risk",
    severity="SEV-1",
    status="contained",
    headline="error rate 62% over 200 requests",
    started_at=T0,
    at=T0 + timedelta(minutes=4),
    requests_affected=12840,
    users_affected=3120,
    decisions="loan approvals",
    serving="the fallback rule (refer every applicant)",
    owner="alice",
    ack_by=T0 + timedelta(minutes=15),
    next_update=T0 + timedelta(minutes=19),
)


def test_page_in_business_terms() -> None:
    title, body = render(MessageKind.PAGE, FACTS)
    assert title == "SEV-1 credit-risk: error rate 62% over 200 requests"
    assert body == (
        "12,840 requests from 3,120 users affected since 2026-03-02 14:00 UTC (all traffic).\n"
        "Decisions impacted: loan approvals.\n"
        "Decisions now come from the fallback rule (refer every applicant).\n"
        "\n"
        "Status: contained. Owner: alice.\n"
        "Acknowledge by 2026-03-02 14:15 UTC.\n"
        "Next update by 2026-03-02 14:19 UTC."
    )


def test_the_stakeholder_update_in_business_terms() -> None:
    """Requests and users affected, decisions impacted, status, the next update's time."""
    title, body = render(MessageKind.UPDATE, replace(FACTS, status="recovering"))
    assert title == "Update SEV-1 credit-risk: recovering (error rate 62% over 200 requests)"
    assert body == (
        "12,840 requests from 3,120 users affected since 2026-03-02 14:00 UTC (all traffic).\n"
        "Decisions impacted: loan approvals.\n"
        "Decisions now come from the fallback rule (refer every applicant).\n"
        "\n"
        "Status: recovering. Owner: alice.\n"
        "Next update by 2026-03-02 14:19 UTC."
    )


def test_update_and_ack_share_the_update_template() -> None:
    facts = replace(FACTS, status="recovering", segment="region=eu", users_affected=None)
    title, body = render(MessageKind.UPDATE, facts)
    assert title == "Update SEV-1 credit-risk: recovering (error rate 62% over 200 requests)"
    assert body.startswith(
        "12,840 requests affected since 2026-03-02 14:00 UTC (segment region=eu)."
    )
    assert "Next update by 2026-03-02 14:19 UTC." in body
    assert "Acknowledge by" not in body
    assert render(MessageKind.ACK, facts) == (title, body)


def test_resolution_notice() -> None:
    facts = replace(
        FACTS, status="resolved", resolution="v3 restored and verified over 300 requests"
    )
    title, body = render(MessageKind.RESOLVED, facts)
    assert title == "Resolved SEV-1 credit-risk: error rate 62% over 200 requests"
    assert body.splitlines()[0] == "v3 restored and verified over 300 requests."
    assert "were affected between 2026-03-02 14:00 UTC and 2026-03-02 14:04 UTC" in body
    assert body.endswith("Status: resolved. A post-incident review follows.")


def test_optional_facts_leave_no_gaps() -> None:
    bare = IncidentFacts(7, "m", "SEV-4", "open", "small drift", T0, T0, 0)
    for kind in MessageKind:
        title, body = render(kind, bare)
        assert title and "None" not in body and "\n\n\n" not in body


def test_an_override_replaces_one_template(tmp_path: Path) -> None:
    (tmp_path / "msgs").mkdir()
    (tmp_path / "msgs" / "page.j2").write_text(
        "{{ severity }} on {{ model }}: {{ decisions | upper }} at risk\n\n\n\n"
        "{{ requests_affected | number }} requests; call {{ extra.phone | default('the desk') }}\n"
    )
    spec = MessageTemplatesSpec(page="msgs/page.j2")
    templates = MessageTemplates.from_spec(spec, base=tmp_path)
    assert templates.render(MessageKind.PAGE, FACTS) == (
        "SEV-1 on credit-risk: LOAN APPROVALS at risk",
        "12,840 requests; call the desk",
    )
    facts = replace(FACTS, extra={"phone": "+1 555 0100"})
    assert templates.render(MessageKind.PAGE, facts)[1].endswith("call +1 555 0100")
    assert templates.render(MessageKind.RESOLVED, FACTS) == render(MessageKind.RESOLVED, FACTS)
    assert "page" in repr(templates)


def test_bad_overrides_name_the_field(tmp_path: Path) -> None:
    (tmp_path / "broken.j2").write_text("{% if %}\n")
    (tmp_path / "typo.j2").write_text("{{ modle }}\n")
    (tmp_path / "empty.j2").write_text("{# nothing #}\n")
    spec = MessageTemplatesSpec(page="broken.j2", update="typo.j2", resolved="empty.j2")
    found = {p.path: p for p in problems(spec, tmp_path)}
    assert set(found) == {"templates.page", "templates.update", "templates.resolved"}
    assert "line 1" in found["templates.page"].message
    assert "'modle' is undefined" in found["templates.update"].message
    assert "no title" in found["templates.resolved"].message
    missing = MessageTemplatesSpec(page="nope.j2")
    with pytest.raises(InputError, match=r"templates.page: 'nope.j2' is not a file"):
        MessageTemplates.from_spec(missing, base=tmp_path)


def test_an_override_failing_at_render_falls_back_to_the_default(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "page.j2").write_text("{{ model }}\n{{ 1 // (requests_affected - 12840) }}\n")
    templates = MessageTemplates.from_spec(MessageTemplatesSpec(page="page.j2"), tmp_path)
    with caplog.at_level(logging.ERROR, logger="ripcord.notify.messages"):
        title, _ = templates.render(MessageKind.PAGE, FACTS)
    assert title == render(MessageKind.PAGE, FACTS)[0]
    assert "template override failed" in caplog.text


def test_templates_are_sandboxed(tmp_path: Path) -> None:
    (tmp_path / "page.j2").write_text("{{ model.__class__.__mro__ }}\n")
    [problem] = problems(MessageTemplatesSpec(page="page.j2"), tmp_path)
    assert "unsafe" in problem.message or "undefined" in problem.message


def test_split() -> None:
    assert split("\n\n  Title  \n\nbody\n\n\n\nmore\n") == ("Title", "body\n\nmore")
    assert split("") == ("", "")
