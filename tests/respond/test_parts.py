"""Multi-part rollback: config and dataset targets restored in the SOP's order around the
model, once each, audited; a config-only rollback (SPEC scenarios 2, 6, 8, 9)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.detect import default_registry
from ripcord.drills import credit
from ripcord.drills.demo import MODEL
from ripcord.errors import InputError, SopError
from ripcord.events import ChangeKind
from ripcord.incidents import service
from ripcord.notify import RecordingChannel
from ripcord.registry.artifacts import ArtifactStore, TargetKind
from ripcord.respond import parts
from ripcord.respond.breaker import BreakerState
from ripcord.respond.rollback import Step
from ripcord.sop.load import load
from ripcord.store import audit
from ripcord.store.db import Database
from ripcord.store.tables import Action, ArtifactActivation, AuditRow, EventRow, TimelineEntry
from tests.conftest import sop_data
from tests.respond.conftest import Drive, deploy_v1

TARGETS = {
    "pipeline": {"kind": "config", "change": "pipeline"},
    "prompt": {"kind": "config"},
    "training_data": {"kind": "dataset"},
}
K, UNITS = {"income_unit": "k"}, {"income_unit": "units"}


def write_sop(tmp_path: Path, order: list[str], targets: dict[str, Any] = TARGETS) -> Path:
    credit.write_golden(tmp_path / "golden" / "credit-risk.csv", n=300)
    data = sop_data()
    data["models"][MODEL] |= {"targets": targets, "rollback": {"order": order}}
    path = tmp_path / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def open_rc(sop: Path, tmp_path: Path, clock: ManualClock, url: str | None = None) -> Ripcord:
    return Ripcord.open(
        sop,
        url=url or f"sqlite:///{tmp_path / 'rc.db'}",
        home=tmp_path,
        clock=clock,
        channels={"console": RecordingChannel(name="console")},
    )


class PipelineDrive(Drive):
    """Traffic through the pipeline the `pipeline` config describes: with
    `income_unit: units` income reaches the model in units, not thousands (scenario 2)."""

    def serve(self, n: int, until: Callable[[], bool] | None = None) -> int:
        unit = (self.rc.targets.config(MODEL, "pipeline") or K)["income_unit"]
        scale = 1000.0 if unit == "units" else 1.0
        stream = self.traffic.stream

        def scaled() -> Iterator[tuple[dict[str, Any], int, str]]:
            for features, label, region in stream:
                yield features | {"income_k": features["income_k"] * scale}, label, region

        self.traffic.stream = scaled()
        try:
            return super().serve(n, until)
        finally:
            self.traffic.stream = stream


def start_targets(rc: Ripcord, clock: ManualClock) -> PipelineDrive:
    """p1 and q1 active, then v1 deployed and verified with them (which marks them good)."""
    rc.targets.record_config(MODEL, "pipeline", K, actor="etl", version="p1")
    rc.targets.record_config(MODEL, "prompt", {"text": "be brief"}, actor="ml", version="q1")
    deploy_v1(rc, clock)
    return PipelineDrive(rc, clock)


def incident_with_approval(rc: Ripcord, drive: Drive) -> Action:
    drive.serve(600, until=lambda: drive.incident() is not None)
    incident = drive.incident()
    assert incident is not None
    with rc.db.session() as session:
        action = rc.rollback.find(session, incident.id)
    assert action is not None and action.status == Step.AWAITING_APPROVAL.value
    return action


def active(rc: Ripcord, target: str) -> tuple[str, str] | None:
    row = rc.targets.active(MODEL, target)
    return None if row is None else (row.version, row.health)


def rollback_activations(rc: Ripcord) -> list[tuple[str, str, str | None]]:
    with rc.db.session() as session:
        query = select(ArtifactActivation).where(ArtifactActivation.incident_id.is_not(None))
        return [
            (a.target, a.version, a.previous)
            for a in session.scalars(query.order_by(ArtifactActivation.id))
        ]


# -- the SOP section ------------------------------------------------------------------------
def test_every_existing_sop_file_keeps_the_model_only_default(tmp_path: Path) -> None:
    sop = load(write_sop(tmp_path, ["model"], {}), default_registry())
    assert sop.models[MODEL].rollback.order == ("model",)
    assert sop.models[MODEL].targets == {}


@pytest.mark.parametrize(
    ("order", "targets", "problem"),
    [
        (
            ["pipeline", "prompts", "model"],
            TARGETS,
            "models.credit-risk.rollback.order[1]: 'prompts' is not 'model' or a declared "
            "target (targets: pipeline, prompt, training_data)",
        ),
        (
            ["pipeline", "model", "pipeline"],
            TARGETS,
            "models.credit-risk.rollback.order[2]: 'pipeline' is listed twice",
        ),
        ([], TARGETS, "models.credit-risk.rollback.order: [] must name at least one part"),
        (
            ["model"],
            {"model": {"kind": "config"}},
            "models.credit-risk.targets.model: 'model' is reserved for the model itself",
        ),
        (
            ["model"],
            {"pipeline": {"kind": "pipeline"}},
            "models.credit-risk.targets.pipeline.kind: 'pipeline' is not one of",
        ),
    ],
)
def test_bad_rollback_parts_are_named(
    tmp_path: Path, order: list[str], targets: dict[str, Any], problem: str
) -> None:
    with pytest.raises(SopError) as info:
        load(write_sop(tmp_path, order, targets), default_registry())
    assert any(str(p).startswith(problem) for p in info.value.problems), info.value.problems


# -- the API ------------------------------------------------------------------------------
def test_the_api_records_and_activates_declared_targets_only(
    tmp_path: Path, clock: ManualClock
) -> None:
    rc = open_rc(write_sop(tmp_path, ["pipeline", "model"]), tmp_path, clock)
    try:
        first = rc.targets.record_config(MODEL, "pipeline", K, actor="etl", reason="initial")
        second = rc.targets.record_config(MODEL, "pipeline", UNITS, actor="etl", activate=False)
        assert (first, second) == ("r1", "r2")
        assert rc.targets.config(MODEL, "pipeline") == K
        assert rc.targets.activate(MODEL, "pipeline", second, actor="etl", reason="new join")
        assert not rc.targets.activate(MODEL, "pipeline", second, actor="etl", reason="again")
        assert rc.targets.config(MODEL, "pipeline") == UNITS
        sha = hashlib.sha256(b"parquet").hexdigest()
        rc.targets.record_dataset(
            MODEL, "training_data", uri="file:///d/1", sha256=sha, actor="etl"
        )
        with pytest.raises(InputError, match="'features' is not declared in the SOP file"):
            rc.targets.record_config(MODEL, "features", K, actor="etl")
        with pytest.raises(InputError, match="is a dataset target, not a config"):
            rc.targets.record_config(MODEL, "training_data", K, actor="etl")
        with rc.db.session() as session:
            changes = session.scalars(select(EventRow).where(EventRow.kind == "change")).all()
            assert [(e.payload["change"], e.version) for e in changes] == [
                ("pipeline", "r1"),
                ("pipeline", "r2"),
                ("pipeline", "r1"),  # the dataset's activation: pipeline by default
            ]
    finally:
        rc.close()


# -- the rollback -------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def three_parts(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> Iterator[Ripcord]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    rc = open_rc(write_sop(tmp_path, ["pipeline", "prompt", "model"]), tmp_path, clock, url)
    yield rc
    rc.close()


def test_parts_are_restored_in_order_before_the_model_once_each(
    three_parts: Ripcord, clock: ManualClock
) -> None:
    rc = three_parts
    drive = start_targets(rc, clock)
    assert active(rc, "pipeline") == ("p1", "good")  # verified with v1
    rc.targets.record_config(MODEL, "pipeline", K | {"join": "v2"}, actor="etl", version="p2")
    rc.deploy(MODEL, "v2", actor="deploy-bot")
    action = incident_with_approval(rc, drive)
    plan = {p["name"]: p for p in action.data["parts"]}
    assert [p["name"] for p in action.data["parts"]] == ["pipeline", "prompt", "model"]
    assert (plan["pipeline"]["restore_to"], plan["pipeline"]["state"]) == ("p1", "pending")
    assert plan["prompt"]["state"] == "kept" and "q1 is verified good" in plan["prompt"]["reason"]

    assert rc.approve(action.id, actor="carol") is Step.VERIFYING
    assert active(rc, "pipeline") == ("p1", "good")
    assert rc.targets.versions(MODEL, "pipeline")[0].health == "bad"  # p2, implicated
    assert rollback_activations(rc) == [("pipeline", "p1", "p2")]
    messages = [e.message for e in timeline(rc, action.incident_id)]
    restored = messages.index("pipeline restored: p2 → p1")
    assert restored < messages.index("v1 promoted")
    audits = audit_actions(rc)
    assert audits.index("artifact.activate") < audits.index("rollback.verifying")

    # running it again changes nothing
    rc.responder.resume()
    with rc.db.session() as session:
        incident = service.get(session, action.incident_id)
        again = rc.rollback.start(session, incident, actor="x", approval=True)
        assert again.id == action.id
        done = parts.restore(
            session,
            rc.artifacts,
            again.data["parts"][0],
            model=MODEL,
            incident_id=action.incident_id,
            at=clock.now(),
            actor="x",
        )
        assert done == again.data["parts"][0]
    assert rollback_activations(rc) == [("pipeline", "p1", "p2")]

    drive.serve(2500, until=lambda: (drive.incident() or _none()).status == "resolved")
    assert (drive.incident() or _none()).status == "resolved"
    assert rc.routes.state(MODEL).serving == "v1"
    with rc.db.session() as session:
        audit.verify(session)


def test_a_config_only_rollback_keeps_the_model_and_restores_the_pipeline(
    tmp_path: Path, clock: ManualClock
) -> None:
    rc = open_rc(write_sop(tmp_path, ["pipeline"]), tmp_path, clock)
    try:
        drive = start_targets(rc, clock)
        rc.targets.record_config(MODEL, "pipeline", UNITS, actor="etl", version="p2")
        action = incident_with_approval(rc, drive)  # income in units breaks the contract
        incident = drive.incident()
        assert incident is not None and incident.incident_type == "data"
        assert rc.routes.state(MODEL).breaker is BreakerState.OPEN
        assert action.data["target"] == "v1"  # kept, validated as is
        assert rc.approve(action.id, actor="carol") is Step.VERIFYING
        assert rc.targets.config(MODEL, "pipeline") == K
        drive.serve(2500, until=lambda: (drive.incident() or _none()).status == "resolved")
        assert (drive.incident() or _none()).status == "resolved"
        assert rc.routes.state(MODEL).breaker is BreakerState.CLOSED
        with rc.db.session() as session:
            assert rc.registry.get(session, MODEL, "v1").health == "good"
            kinds = [d.kind for d in rc.registry.deployments(session, MODEL)]
            assert kinds == ["deploy"]  # the model never moved
            audit.verify(session)
        assert active(rc, "pipeline") == ("p1", "good")
    finally:
        rc.close()


def timeline(rc: Ripcord, incident_id: int) -> list[TimelineEntry]:
    with rc.db.session() as session:
        query = select(TimelineEntry).where(TimelineEntry.incident_id == incident_id)
        return list(session.scalars(query.order_by(TimelineEntry.id)))


def audit_actions(rc: Ripcord) -> list[str]:
    with rc.db.session() as session:
        return list(session.scalars(select(AuditRow.action).order_by(AuditRow.id)))


def _none() -> Any:
    from ripcord.store.tables import Incident

    return Incident(status="none")


# -- the last-known-good choice of one target -------------------------------------------------
def history_of(db: Database, steps: list[tuple[str, str]]) -> ArtifactStore:
    """Record and activate versions in order; each step is (version, health after)."""
    store, at = ArtifactStore(), datetime(2026, 5, 1, tzinfo=UTC)
    with db.session() as session:
        for i, (version, _) in enumerate(steps):
            if store.find(session, MODEL, "pipeline", version) is None:
                kind, doc = TargetKind.CONFIG, {"step": i}
                store.record(
                    session,
                    model=MODEL,
                    target="pipeline",
                    kind=kind,
                    at=at,
                    actor="etl",
                    version=version,
                    content=doc,
                )
            store.activate(
                session,
                model=MODEL,
                target="pipeline",
                version=version,
                at=at,
                actor="etl",
                change=ChangeKind.PIPELINE,
            )
        for version, health in steps:
            row = store.get(session, MODEL, "pipeline", version)
            store.mark(session, row, health, at=at, actor="test", reason="given")
    return store


@pytest.mark.parametrize(
    ("steps", "restore_to", "reason"),
    [
        ([], None, "never activated: nothing to restore"),
        ([("p1", "good")], None, "p1 is verified good: kept"),
        (
            [("p1", "good"), ("p2", "unknown"), ("p3", "unknown")],
            "p1",
            "p1: the newest version verified good before p3",
        ),
        (
            [("p1", "unknown"), ("p2", "unknown")],
            "p1",
            "p1: active before p2 (never verified in service)",
        ),
        (
            [("p1", "good"), ("p2", "bad"), ("p3", "unknown")],
            "p1",
            "p1: the newest version verified good before p3",
        ),
        ([("p1", "bad"), ("p2", "unknown")], None, "no earlier version that is not implicated"),
        # re-activated: the version's earlier turn does not count as "before" it
        (
            [("p1", "good"), ("p2", "unknown"), ("p1", "good"), ("p3", "unknown")],
            "p1",
            "p1: the newest version verified good before p3",
        ),
    ],
)
def test_the_last_known_good_choice(
    db: Database, steps: list[tuple[str, str]], restore_to: str | None, reason: str
) -> None:
    store = history_of(db, steps)
    with db.session() as session:
        choice = parts.choose(session, store, MODEL, "pipeline", "config")
    assert (choice.restore_to, choice.reason.startswith(reason)) == (restore_to, True), choice
