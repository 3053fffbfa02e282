"""The MLflow adapter against a real tracking server: mirror, load through pyfunc, move the
serving alias, run the whole rollback loop, and survive the registry going away."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills.demo import MODEL
from ripcord.errors import InputError, RegistryError
from ripcord.notify import RecordingChannel
from ripcord.registry.mlflow import MlflowRegistry, identity
from ripcord.registry.pyfunc import MlflowPredictor
from ripcord.respond.breaker import BreakerState
from ripcord.respond.golden import GoldenSet
from ripcord.respond.rollback import Step
from ripcord.store import audit
from ripcord.store.tables import Action, AuditRow, Deployment
from tests.registry.conftest import Gate, Registered, client_for, open_runtime
from tests.respond.conftest import V1, Drive

pytestmark = [
    pytest.mark.slow,
    # v1 and v2 were fitted on bare arrays; MLflow's sklearn flavour hands them named columns
    pytest.mark.filterwarnings("ignore:X has feature names:UserWarning"),
]


def registry(rc: Ripcord) -> MlflowRegistry:
    assert isinstance(rc.registry, MlflowRegistry)
    return rc.registry


def healths(rc: Ripcord) -> dict[str, str]:
    with rc.db.session() as session:
        return {v.version: v.health for v in rc.registry.versions(session, MODEL)}


def champion(url: str) -> str | None:
    aliases: dict[str, str] = client_for(url).get_registered_model(MODEL).aliases or {}
    return aliases.get("champion")


def tags(url: str, version: str) -> dict[str, str]:
    found: dict[str, str] = client_for(url).get_model_version(MODEL, version).tags
    return found


def alias_moves(rc: Ripcord) -> list[tuple[str | None, str]]:
    with rc.db.session() as session:
        rows = session.scalars(select(AuditRow).where(AuditRow.action == "registry.alias"))
        return [(r.before["version"], r.after["version"]) for r in rows]  # type: ignore[index]


def deployments(rc: Ripcord) -> list[tuple[str, str]]:
    with rc.db.session() as session:
        return [(d.version, d.kind) for d in rc.registry.deployments(session, MODEL)]


def golden(rc: Ripcord) -> GoldenSet:
    spec = rc.sop.models[MODEL].golden_set
    assert spec is not None
    return GoldenSet.load(rc.rollback.sop_dir / spec.path, spec.label)


def test_sync_mirrors_every_version(
    rc_mlflow: Ripcord, registered: Registered, tmp_path: Path
) -> None:
    with rc_mlflow.db.session() as session:
        added = registry(rc_mlflow).sync(session, MODEL)
        assert [row.version for row in added] == ["1", "2"]
    with rc_mlflow.db.session() as session:
        rows = {row.version: row for row in rc_mlflow.registry.versions(session, MODEL)}
        assert registry(rc_mlflow).sync(session, MODEL) == []  # mirroring twice adds nothing
        synced = session.scalar(
            select(func.count(AuditRow.id)).where(AuditRow.action == "version.sync")
        )
    client = client_for(registered.url)
    for version in ("1", "2"):
        row = rows[version]
        assert row.artifact == f"models:/{MODEL}/{version}"
        assert row.sha256 == identity(client.get_model_version(MODEL, version))
        assert row.meta["mlflow"]["run_id"] == registered.run_ids[version]
        assert row.health == "unknown"
    assert rows["1"].sha256 != rows["2"].sha256
    assert (rows["1"].parent, rows["2"].parent) == (None, "1")
    assert synced == 2
    assert not list(tmp_path.rglob("*.joblib"))


def test_pyfunc_scores_the_golden_rows_like_the_original(rc_mlflow: Ripcord) -> None:
    rows = golden(rc_mlflow).rows
    with rc_mlflow.db.session() as session:
        row = rc_mlflow.registry.get(session, MODEL, "1")  # not mirrored yet: synced on demand
    predictor = rc_mlflow.registry.load(row)
    assert isinstance(predictor, MlflowPredictor) and predictor.estimator is not None
    ours, original = predictor.predict(rows), V1.predict(rows)
    assert [s.prediction for s in ours] == [s.prediction for s in original]
    assert [s.confidence for s in ours] == pytest.approx([s.confidence for s in original])
    again = rc_mlflow.registry.load(row)  # the download is kept per content identity
    assert again.predict(rows[:5]) == ours[:5]


def test_a_version_whose_content_changed_is_refused(rc_mlflow: Ripcord) -> None:
    with rc_mlflow.db.session() as session:
        row = rc_mlflow.registry.get(session, MODEL, "1")
        row.sha256 = "0" * 64  # as if MLflow's version 1 now held other content
    with pytest.raises(InputError, match="sha256.*does not match the mirrored version"):
        rc_mlflow.registry.load(row)


def test_tags_carry_the_record_between_ripcord_and_mlflow(
    rc_mlflow: Ripcord, registered: Registered
) -> None:
    client_for(registered.url).set_model_version_tag(MODEL, "2", "ripcord.health", "bad")
    with rc_mlflow.db.session() as session:
        registry(rc_mlflow).sync(session, MODEL)  # a fresh store learns v2's record
        row = rc_mlflow.registry.get(session, MODEL, "1")
        row.health = "good"  # as if the tag write had failed during an outage
        row.validation = {"passed": True, "rows": 300, "error": None, "checks": []}
    assert healths(rc_mlflow) == {"1": "good", "2": "bad"}
    assert "ripcord.health" not in tags(registered.url, "1")
    with rc_mlflow.db.session() as session:
        registry(rc_mlflow).sync(session, MODEL)  # the next sync writes what MLflow lacks
    v1 = tags(registered.url, "1")
    assert (v1["ripcord.health"], v1["ripcord.validation.passed"]) == ("good", "true")


def test_deploy_moves_the_champion_alias(rc_mlflow: Ripcord, registered: Registered) -> None:
    rc_mlflow.deploy(MODEL, "1", actor="ci")
    assert champion(registered.url) == "1"
    rc_mlflow.deploy(MODEL, "2", actor="deploy-bot")
    assert champion(registered.url) == "2"
    assert alias_moves(rc_mlflow) == [(None, "1"), ("1", "2")]
    assert deployments(rc_mlflow) == [("1", "deploy"), ("2", "deploy")]


def test_the_whole_loop_rolls_the_alias_back(
    rc_mlflow: Ripcord, registered: Registered, clock: ManualClock, channel: RecordingChannel
) -> None:
    rc = rc_mlflow
    rc.deploy(MODEL, "1", actor="ci")
    drive = Drive(rc, clock)
    drive.serve(900)
    assert healths(rc) == {"1": "good", "2": "unknown"}
    rc.deploy(MODEL, "2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    incident = drive.incident()
    assert incident is not None and incident.status == "contained"
    with rc.db.session() as session:
        action = rc.rollback.find(session, incident.id)
    assert action is not None and action.status == Step.AWAITING_APPROVAL.value
    assert champion(registered.url) == "2"  # nothing moves before the approval
    v1_tags = tags(registered.url, "1")
    assert v1_tags["ripcord.validation.passed"] == "true"
    assert float(v1_tags["ripcord.validation.accuracy"]) >= 0.8
    assert {"ripcord.validation.mean_confidence", "ripcord.validation.rows"} <= set(v1_tags)
    rc.approve(action.id, actor="carol")
    assert champion(registered.url) == "1"
    assert rc.routes.state(MODEL).breaker is BreakerState.HALF_OPEN
    drive.serve(2500, until=lambda: (drive.incident() or incident).status == "resolved")
    done = drive.incident()
    assert done is not None and done.status == "resolved"
    assert channel.messages[-1].kind.value == "resolved"
    assert healths(rc) == {"1": "good", "2": "bad"}
    assert tags(registered.url, "1")["ripcord.health"] == "good"
    assert tags(registered.url, "2")["ripcord.health"] == "bad"
    assert champion(registered.url) == "1"
    assert deployments(rc) == [("1", "deploy"), ("2", "deploy"), ("1", "rollback")]
    assert alias_moves(rc) == [(None, "1"), ("1", "2"), ("2", "1")]
    with rc.db.session() as session:
        assert audit.verify(session).rows == session.scalar(select(func.count(AuditRow.id)))


def test_a_registry_outage_escalates_and_keeps_the_fallback(
    gate: Gate,
    registered: Registered,
    tmp_path: Path,
    clock: ManualClock,
    channel: RecordingChannel,
) -> None:
    rc = open_runtime(tmp_path, gate.url, clock, channel)
    try:
        rc.deploy(MODEL, "1", actor="ci")
        drive = Drive(rc, clock)
        drive.serve(600)  # a baseline (500 events) and v1 verified (300): a candidate
        assert healths(rc)["1"] == "good"
        rc.deploy(MODEL, "2", actor="deploy-bot")
        drive.serve(1)  # the guard has loaded version 2 and serves it from memory
        gate.close()
        outage_then_escalation(rc, drive, gate, channel)
    finally:
        rc.close()


def outage_then_escalation(
    rc: Ripcord, drive: Drive, gate: Gate, channel: RecordingChannel
) -> None:
    with rc.db.session() as session:
        v1 = rc.registry.get(session, MODEL, "1")
    with pytest.raises(RegistryError, match=f"registry {gate.url}: get_model_version"):
        rc.registry.load(v1)
    drive.serve(400, until=lambda: drive.incident() is not None)
    incident = drive.incident()
    assert incident is not None and incident.status == "contained"
    assert rc.routes.state(MODEL).breaker is BreakerState.OPEN
    with rc.db.session() as session:
        action = session.scalars(select(Action).where(Action.incident_id == incident.id)).one()
    assert action.status == Step.ESCALATED.value
    tried = action.data["tried"]
    assert [(t["version"], t["passed"]) for t in tried] == [("1", False)]
    assert f"registry {gate.url}" in tried[0]["error"]
    assert "escalated" in channel.messages[-1].title
    with pytest.raises(RegistryError):  # nor can anyone move the alias by hand meanwhile
        rc.deploy(MODEL, "1", actor="carol")
    state = rc.routes.state(MODEL)
    assert (state.serving, state.breaker) == ("2", BreakerState.OPEN)
    assert deployments(rc) == [("1", "deploy"), ("2", "deploy")]
    with rc.db.session() as session:
        assert session.scalar(select(func.count(Deployment.id))) == 2


def test_a_wrong_port_is_a_registry_error(
    tmp_path: Path, clock: ManualClock, channel: RecordingChannel
) -> None:
    from tests.registry.conftest import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    rc = open_runtime(tmp_path, dead, clock, channel)  # opening calls nothing
    try:
        with pytest.raises(RegistryError, match=f"registry {dead}: search_model_versions"):
            rc.deploy(MODEL, "1", actor="ci")
        assert rc.routes.state(MODEL).serving is None
        assert deployments(rc) == []
    finally:
        rc.close()
