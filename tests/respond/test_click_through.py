"""SPEC scenario 1: click-through falls right after a deployment. The business rate from
feedback (clicks joined to predictions by request id) is a SEV-2 model-quality signal on
the new version: traffic is contained at once and a rollback to the previous version waits
for approval."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ripcord.app import Ripcord
from ripcord.drills import credit
from ripcord.drills.demo import MODEL
from ripcord.respond.breaker import BreakerState
from ripcord.respond.rollback import Step
from ripcord.store.tables import Incident
from tests.conftest import sop_data
from tests.respond.conftest import V1, Drive


@pytest.fixture
def sop_file(tmp_path: Path) -> Path:
    """The demo's SOP with a click-through SLA and its detector."""
    credit.write_golden(tmp_path / "golden" / "credit-risk.csv", n=300)
    data = sop_data()
    data["models"][MODEL]["slas"]["min_click_through"] = 0.3
    data["models"][MODEL]["detectors"].append({"type": "business_rate", "window": 200})
    path = tmp_path / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def serve_with_clicks(rc: Ripcord, drive: Drive, n: int, clicks_in_100: int) -> Incident | None:
    """Serve `n` requests, each clicked (+1) or seen (0) by its user; stop at an incident."""
    for i in range(n):
        drive.serve(1)
        request_id = drive.traffic.labels[-1][0]
        score = 1.0 if i % 100 < clicks_in_100 else 0.0
        rc.feedback(MODEL, request_id, score, source=f"user-{i % 300}")
        if (incident := drive.incident()) is not None:
            return incident
    return None


def test_a_click_through_fall_after_a_deploy_is_contained_and_rolled_back(
    rc: Ripcord, drive: Drive
) -> None:
    assert serve_with_clicks(rc, drive, 400, clicks_in_100=50) is None  # v1: CTR 0.5
    rc.register(MODEL, "v3", V1, actor="ci", parent="v1")  # same model, new ranking config
    rc.deploy(MODEL, "v3", actor="deploy-bot")
    incident = serve_with_clicks(rc, drive, 400, clicks_in_100=5)
    assert incident is not None
    assert (incident.version, incident.incident_type, incident.severity) == (
        "v3",
        "model_quality",
        3,  # SEV-2
    )
    assert incident.title == f"{MODEL} v3: business rate from feedback past SLA"
    with rc.db.session() as session:
        deployed = rc.registry.deployed_at(session, MODEL, "v3")
    assert incident.started_at == deployed  # correlated with the deploy
    assert incident.status == "contained"
    assert rc.routes.state(MODEL).breaker is BreakerState.OPEN
    with rc.db.session() as session:
        action = rc.rollback.find(session, incident.id)
    assert action is not None
    assert (action.status, action.data["target"]) == (Step.AWAITING_APPROVAL.value, "v1")
