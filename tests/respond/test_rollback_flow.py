from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills.demo import MODEL
from ripcord.errors import ApprovalError
from ripcord.notify import RecordingChannel
from ripcord.respond.breaker import BreakerState
from ripcord.respond.rollback import Step
from ripcord.store import audit
from ripcord.store.tables import Action, AuditRow, Incident, TimelineEntry
from tests.respond.conftest import V2, Drive, deploy_v1


def versions(rc: Ripcord) -> dict[str, str]:
    with rc.db.session() as session:
        return {v.version: v.health for v in rc.registry.versions(session, MODEL)}


def timeline(rc: Ripcord, incident_id: int) -> list[TimelineEntry]:
    with rc.db.session() as session:
        query = select(TimelineEntry).where(TimelineEntry.incident_id == incident_id)
        return list(session.scalars(query.order_by(TimelineEntry.id)))


def rollback_of(rc: Ripcord, incident_id: int) -> Action:
    with rc.db.session() as session:
        action = rc.rollback.find(session, incident_id)
        assert action is not None
        return action


def test_a_verified_deploy_marks_the_version_good(rc: Ripcord, drive: Drive) -> None:
    assert versions(rc) == {"v1": "good", "v2": "unknown"}
    assert drive.incident() is None
    assert rc.routes.state(MODEL).breaker is BreakerState.CLOSED


def test_bad_deploy_is_contained_then_waits_for_approval(
    rc: Ripcord, drive: Drive, channel: RecordingChannel
) -> None:
    rc.deploy(MODEL, "v2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    incident = drive.incident()
    assert incident is not None
    assert (incident.severity, incident.incident_type, incident.status) == (
        3,
        "model_quality",
        "contained",
    )
    assert incident.version == "v2" and incident.owner == "ml-credit"
    assert rc.routes.state(MODEL).breaker is BreakerState.OPEN
    action = rollback_of(rc, incident.id)
    assert action.status == Step.AWAITING_APPROVAL.value
    assert action.data["target"] == "v1"
    assert [t["version"] for t in action.data["tried"]] == ["v1"]
    pages = [(m.kind.value, m.recipient) for m in channel.messages]
    assert pages == [("page", "alice"), ("update", "carol")]
    # While it waits, traffic is answered by the fallback rule, not by v2.
    served = drive.traffic.guard(
        {
            "income_k": 50.0,
            "debt_ratio": 0.2,
            "age": 40.0,
            "tenure_months": 12.0,
            "late_payments": 0.0,
            "utilization": 0.3,
        }
    )
    assert (served.route.value, served.prediction) == ("fallback", 1)


def test_approval_rules(rc: Ripcord, drive: Drive) -> None:
    rc.deploy(MODEL, "v2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    incident = drive.incident()
    assert incident is not None
    action = rollback_of(rc, incident.id)
    with pytest.raises(ApprovalError, match="'mallory' is not one of carol"):
        rc.approve(action.id, actor="mallory")
    assert rollback_of(rc, incident.id).status == Step.AWAITING_APPROVAL.value
    assert rc.approve(action.id, actor="carol") is Step.VERIFYING
    with pytest.raises(ApprovalError, match="not awaiting_approval"):
        rc.approve(action.id, actor="carol")


def test_the_whole_loop_resolves_with_a_clean_audit(
    rc: Ripcord, drive: Drive, channel: RecordingChannel
) -> None:
    whole_loop(rc, drive, channel)


def test_the_whole_loop_on_postgresql(
    rc_pg: Ripcord, clock: ManualClock, channel: RecordingChannel
) -> None:
    whole_loop(rc_pg, deploy_v1(rc_pg, clock), channel)
    assert rc_pg.db.engine.dialect.name == "postgresql"


def whole_loop(rc: Ripcord, drive: Drive, channel: RecordingChannel) -> None:
    rc.deploy(MODEL, "v2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    incident = drive.incident()
    assert incident is not None
    rc.approve(rollback_of(rc, incident.id).id, actor="carol")
    assert rc.routes.state(MODEL).serving == "v1"
    assert rc.routes.state(MODEL).breaker is BreakerState.HALF_OPEN
    drive.serve(2500, until=lambda: (drive.incident() or incident).status == "resolved")
    done = drive.incident()
    assert done is not None and done.status == "resolved"
    assert rc.routes.state(MODEL).breaker is BreakerState.CLOSED
    assert versions(rc) == {"v1": "good", "v2": "bad"}
    entries = timeline(rc, done.id)
    kinds = [e.kind for e in entries]
    assert kinds[:4] == ["signal", "status", "rollback", "validation"]
    assert kinds[-2:] == ["rollback", "status"] and "→ resolved" in entries[-1].message
    steps = [e.message for e in entries if "traffic step " in e.message]
    assert steps == ["v1: traffic step 2/3, 50%", "v1: traffic step 3/3, 100%"]
    assert channel.messages[-1].kind.value == "resolved"
    with rc.db.session() as session:
        assert audit.verify(session).rows == session.scalar(select(func.count(AuditRow.id)))
        approvers = session.scalars(
            select(AuditRow.actor).where(AuditRow.action == "rollback.promoting")
        )
        assert list(approvers) == ["carol"]
    assert done.started_at < done.detected_at <= done.contained_at < done.resolved_at  # type: ignore[operator]


def test_rerunning_the_rollback_is_a_no_op(rc: Ripcord, drive: Drive) -> None:
    rc.deploy(MODEL, "v2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    incident = drive.incident()
    assert incident is not None
    before = len(timeline(rc, incident.id))
    with rc.db.session() as session:
        first = rc.rollback.start(session, incident, actor="ripcord", approval=True)
        assert rc.rollback.advance(session, first) is Step.AWAITING_APPROVAL
    with rc.db.session() as session:
        assert session.scalar(select(func.count(Action.id))) == 1
    assert len(timeline(rc, incident.id)) == before


def test_a_failing_candidate_is_skipped_for_the_next(rc: Ripcord, drive: Drive) -> None:
    # v1b claims a clean record but is the broken model: the golden set must catch it.
    rc.register(MODEL, "v1b", V2, actor="ci", parent="v1")
    with rc.db.session() as session:
        row = rc.registry.get(session, MODEL, "v1b")
        rc.registry.mark(session, row, "good", at=rc.clock.now(), actor="test", reason="stale mark")
    rc.deploy(MODEL, "v2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    incident = drive.incident()
    assert incident is not None
    action = rollback_of(rc, incident.id)
    tried = [(t["version"], t["passed"]) for t in action.data["tried"]]
    assert tried == [("v1b", False), ("v1", True)]
    failed = next(c for c in action.data["tried"][0]["checks"] if c["metric"] == "accuracy")
    assert failed["value"] < 0.8


def test_no_candidate_escalates_and_keeps_the_fallback(
    rc: Ripcord, drive: Drive, channel: RecordingChannel
) -> None:
    with rc.db.session() as session:  # v1 loses its clean record: nothing to roll back to
        rc.registry.mark(
            session,
            rc.registry.get(session, MODEL, "v1"),
            "bad",
            at=rc.clock.now(),
            actor="test",
            reason="test",
        )
    rc.deploy(MODEL, "v2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    incident = drive.incident()
    assert incident is not None
    assert rollback_of(rc, incident.id).status == Step.ESCALATED.value
    assert rc.routes.state(MODEL).breaker is BreakerState.OPEN
    assert incident.status == "contained"
    assert "escalated" in channel.messages[-1].title


def test_a_crash_inside_the_rollback_loses_neither_incident_nor_routing(
    rc: Ripcord, drive: Drive, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("golden set scorer died")

    monkeypatch.setattr("ripcord.respond.rollback.validate", crash)
    rc.deploy(MODEL, "v2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    incident = drive.incident()
    assert incident is not None and incident.status == "contained"
    assert rc.routes.state(MODEL).breaker is BreakerState.OPEN
    with rc.db.session() as session:
        stored = session.get(Incident, incident.id)
        assert stored is not None
    messages = [e.message for e in timeline(rc, incident.id)]
    assert any("rollback could not run: OSError: golden set scorer died" in m for m in messages)


def test_a_restart_resumes_verification(
    rc: Ripcord, drive: Drive, sop_file, tmp_path, clock, channel: RecordingChannel
) -> None:  # type: ignore[no-untyped-def]
    rc.deploy(MODEL, "v2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    incident = drive.incident()
    assert incident is not None
    rc.approve(rollback_of(rc, incident.id).id, actor="carol")
    rc.close()
    again = Ripcord.open(
        sop_file,
        url=f"sqlite:///{tmp_path / 'rc.db'}",
        home=tmp_path,
        clock=clock,
        channels={"console": channel},
    )
    try:
        assert again.routes.state(MODEL).serving == "v1"
        assert again.routes.state(MODEL).breaker is BreakerState.HALF_OPEN
        assert MODEL in again.verifier.active
    finally:
        again.close()


def test_v2_really_is_worse_on_the_golden_set(rc: Ripcord, drive: Drive) -> None:
    from ripcord.respond.golden import GoldenSet, validate

    spec = rc.sop.models[MODEL]
    assert spec.golden_set is not None
    golden = GoldenSet.load(rc.rollback.sop_dir / spec.golden_set.path, spec.golden_set.label)
    assert not validate(V2, golden, spec.slas, version="v2").passed


def test_a_dead_channel_delays_nothing_and_is_recorded(rc: Ripcord, drive: Drive) -> None:
    import socket

    from ripcord.notify import Notifier, WebhookChannel
    from ripcord.store.tables import Delivery

    with socket.socket() as s:  # a port with nothing listening: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = WebhookChannel(
        "console",
        f"http://127.0.0.1:{port}/hook",
        retries=1,
        backoff_s=0.001,
        sleep=lambda _s: None,
    )
    rc.notifier = Notifier({"console": dead})
    rc.deploy(MODEL, "v2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    incident = drive.incident()
    assert incident is not None and incident.status == "contained"
    assert rc.routes.state(MODEL).breaker is BreakerState.OPEN
    assert rollback_of(rc, incident.id).status == Step.AWAITING_APPROVAL.value
    with rc.db.session() as session:
        deliveries = list(session.scalars(select(Delivery)))
    assert deliveries and not any(d.ok for d in deliveries)
    assert all("Connection refused" in d.detail for d in deliveries)


def test_an_unacknowledged_page_escalates_to_the_backup_once(
    rc: Ripcord, drive: Drive, channel: RecordingChannel
) -> None:
    rc.deploy(MODEL, "v2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    incident = drive.incident()
    assert incident is not None and incident.ack_by is not None
    assert rc.responder.escalate_overdue() == []
    drive.clock.advance(61 * 60)  # SEV-2: one hour to acknowledge
    assert rc.responder.escalate_overdue() == [incident.id]
    assert rc.responder.escalate_overdue() == []  # a new deadline is set
    assert (channel.messages[-1].recipient, "ESCALATED" in channel.messages[-1].title) == (
        "bob",
        True,
    )
    assert [e.kind for e in timeline(rc, incident.id)].count("escalation") == 1


def test_the_plan_explains_the_choice(rc: Ripcord, drive: Drive) -> None:
    from ripcord.respond.plan import plan

    rc.register(MODEL, "v3", V2, actor="ci", parent="v2")
    rc.deploy(MODEL, "v2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    with rc.db.session() as session:
        choices = {
            c.version: (c.eligible, c.reason)
            for c in plan(session, rc.registry, MODEL, serving=rc.routes.state(MODEL).serving)
        }
    assert choices["v1"] == (True, "candidate #1")
    assert choices["v3"] == (False, "never verified in service")
    assert choices["v2"][0] is False and choices["v2"][1] in (
        "serving now",
        "implicated in open incident 1",
    )
