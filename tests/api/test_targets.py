"""Config and dataset rollback targets over the live API: record, list, activate, with the
token's name in the audit log and bad input refused by field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.drills import credit
from ripcord.store.tables import AuditRow
from tests.api.conftest import Clients
from tests.conftest import sop_data

MODEL = "credit-risk"
BASE = f"/v1/models/{MODEL}/targets"
SHA = "ab" * 32


@pytest.fixture
def sop_file(tmp_path: Path) -> Path:
    """The demo SOP with a pipeline config and a training-data dataset declared."""
    credit.write_golden(tmp_path / "golden" / "credit-risk.csv", n=300)
    data = sop_data()
    data["models"][MODEL]["targets"] = {
        "pipeline": {"kind": "config", "change": "pipeline"},
        "training_data": {"kind": "dataset"},
    }
    path = tmp_path / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_config_is_recorded_listed_and_rolled_back_by_hand(rc: Ripcord, client: Clients) -> None:
    alice = client("alice")
    first = {"document": {"income_unit": "k"}, "reason": "initial", "version": "p1"}
    r = alice.post(f"{BASE}/pipeline/versions", json=first)
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["active"], r.json()["kind"]) == ("p1", True, "config")
    second = {"document": {"income_unit": "units"}, "reason": "new feed", "parent": "p1"}
    r = alice.post(f"{BASE}/pipeline/versions", json=second)
    assert r.status_code == 200, r.text
    p2 = r.json()["version"]
    assert rc.targets.config(MODEL, "pipeline") == {"income_unit": "units"}
    listed = client("vera").get(f"{BASE}/pipeline/versions").json()
    assert [(v["version"], v["active"], v["parent"]) for v in listed] == [
        (p2, True, "p1"),
        ("p1", False, None),
    ]
    r = alice.post(f"{BASE}/pipeline/activate", json={"version": "p1", "reason": "revert"})
    assert r.status_code == 200 and r.json()["active"] is True
    assert rc.targets.config(MODEL, "pipeline") == {"income_unit": "k"}
    with rc.db.session() as session:
        actors = session.scalars(
            select(AuditRow.actor).where(AuditRow.subject.like(f"%{MODEL}%pipeline%"))
        ).all()
    assert actors and set(actors) == {"alice"}


def test_a_dataset_version_needs_its_hash(rc: Ripcord, client: Clients) -> None:
    alice = client("alice")
    bad = {"uri": "s3://bucket/train.parquet", "sha256": "nope", "reason": "retrain"}
    r = alice.post(f"{BASE}/training_data/versions", json=bad)
    assert r.status_code == 422 and "sha256: 'nope' must be 64 lowercase hex digits" in r.text
    good = {**bad, "sha256": SHA}
    r = alice.post(f"{BASE}/training_data/versions", json=good)
    assert r.status_code == 200, r.text
    assert (r.json()["uri"], r.json()["sha256"], r.json()["kind"]) == (good["uri"], SHA, "dataset")


def test_bad_targets_versions_and_roles_are_refused_and_store_nothing(
    rc: Ripcord, client: Clients
) -> None:
    alice = client("alice")
    body = {"document": {"x": 1}, "reason": "r"}
    r = alice.post(f"{BASE}/prompts/versions", json=body)
    assert r.status_code == 422 and "'prompts' is not declared in the SOP file" in r.text
    r = alice.post(f"{BASE}/training_data/versions", json=body)
    assert r.status_code == 422 and "is a dataset target, not a config" in r.text
    r = alice.post(f"{BASE}/pipeline/versions", json={**body, "uri": "x", "sha256": SHA})
    assert r.status_code == 422 and "exactly one of document" in r.text
    r = alice.post(f"{BASE}/pipeline/activate", json={"version": "p9", "reason": "r"})
    assert r.status_code == 404
    assert client("vera").post(f"{BASE}/pipeline/versions", json=body).status_code == 403
    assert rc.targets.versions(MODEL, "pipeline") == []
