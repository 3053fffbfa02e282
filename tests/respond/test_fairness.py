"""Fairness gaps on the golden set: the measures, the SOP section, and a rollback that skips
a version that meets every SLA but treats one group worse (SPEC scenario 7)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.detect.base import Reading, Signal
from ripcord.drills import credit
from ripcord.drills.demo import MODEL
from ripcord.errors import SopError
from ripcord.notify import RecordingChannel
from ripcord.registry.base import SklearnPredictor
from ripcord.respond.fairness import gaps
from ripcord.respond.golden import GoldenSet, validate
from ripcord.respond.rollback import Step
from ripcord.sop.schema import FairnessSpec, Slas
from tests.conftest import sop_data

FAIRNESS = {
    "attribute": "sex",
    "favorable": 0,  # "will not default": the prediction that gets the loan
    "max_parity_difference": 0.1,
    "min_disparate_impact": 0.8,
    "min_group_size": 30,
}
SLAS = Slas(min_accuracy=0.8, min_mean_confidence=0.78)


def write_golden(path: Path, n: int = 600, small_group: int = 0) -> Path:
    """The credit golden set plus a protected `sex` column drawn independently of the
    rest (seeded), and optionally a group "2" too small to compare."""
    x, y, _ = credit.sample(n, 99)
    sex = np.random.default_rng(5).integers(0, 2, n)
    sex[:small_group] = 2
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*credit.FEATURES, "sex", "label"])
        for features, s, label in zip(credit.rows(x), sex, y, strict=True):
            writer.writerow([*features.values(), int(s), int(label)])
    return path


def train_unfair(bias: float = 0.3) -> SklearnPredictor:
    """A real model retrained on labels where 30 % of one group's good outcomes were
    recorded as defaults: it learns to refuse that group, yet meets the SLAs."""
    x, y, _ = credit.sample(8000, 7)
    rng = np.random.default_rng(8)
    sex = rng.integers(0, 2, len(y)).astype(float)
    y = np.where((sex == 1) & (rng.random(len(y)) < bias), 1, y)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    pipeline.fit(np.column_stack([x, sex]), y)
    return SklearnPredictor(pipeline, (*credit.FEATURES, "sex"))


FAIR, UNFAIR = credit.train(), train_unfair()


def test_the_measures_on_known_rates() -> None:
    g = gaps(
        "sex",
        ["f"] * 40 + ["m"] * 40 + ["x"] * 3,
        [True] * 20 + [False] * 20 + [True] * 43,
        min_group_size=30,
    )
    assert g.rates == {"f": (40, 0.5), "m": (40, 1.0)}
    assert g.skipped == {"x": 3}
    assert (g.parity_difference, g.disparate_impact) == (0.5, 0.5)
    assert gaps("a", [1.0, 1.0, 2.0], [True, True, True], min_group_size=1).rates == {
        "1": (2, 1.0),
        "2": (1, 1.0),
    }
    with pytest.raises(ValueError, match="min_group_size: 0 must be >= 1"):
        gaps("a", [], [], min_group_size=0)


def test_the_unfair_version_fails_only_on_fairness(tmp_path: Path) -> None:
    golden = GoldenSet.load(write_golden(tmp_path / "g.csv", small_group=12), "label")
    spec = FairnessSpec.model_validate(FAIRNESS)
    fair = validate(FAIR, golden, SLAS, version="v1", fairness=spec)
    unfair = validate(UNFAIR, golden, SLAS, version="v2", fairness=spec)
    assert fair.passed
    assert not unfair.passed
    verdicts = {c.metric: c.passed for c in unfair.checks}
    assert verdicts == {
        "accuracy": True,
        "mean_confidence": True,
        "parity_difference": False,
        "disparate_impact": False,
    }
    evidence = unfair.as_dict()["fairness"]
    assert evidence["skipped"] == {"2": 12}
    rates = {g: v["favorable_rate"] for g, v in evidence["groups"].items()}
    assert rates["0"] - rates["1"] > 0.15  # group 1 is refused far more often
    assert evidence["parity_difference"] == pytest.approx(rates["0"] - rates["1"])


def test_too_few_comparable_groups_fail_rather_than_pass(tmp_path: Path) -> None:
    golden = GoldenSet.load(write_golden(tmp_path / "g.csv", n=80), "label")
    spec = FairnessSpec.model_validate(FAIRNESS | {"min_group_size": 50})
    result = validate(FAIR, golden, SLAS, version="v1", fairness=spec)
    assert not result.passed
    assert result.error == "fairness: fewer than 2 groups of 'sex' have 50 rows or more"


def fairness_sop(tmp_path: Path, fairness: dict[str, Any]) -> Path:
    write_golden(tmp_path / "golden" / "credit-risk.csv")
    data = sop_data()
    data["models"][MODEL]["golden_set"]["fairness"] = fairness
    path = tmp_path / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("fairness", "problem"),
    [
        (
            FAIRNESS | {"attribute": "gender"},
            "models.credit-risk.golden_set.fairness.attribute: 'gender' is not a column of "
            "golden/credit-risk.csv",
        ),
        (
            FAIRNESS | {"attribute": "label"},
            "models.credit-risk.golden_set.fairness.attribute: 'label' is the label column",
        ),
        (
            {"attribute": "sex", "max_parity_difference": None, "min_disparate_impact": None},
            "give max_parity_difference or min_disparate_impact",
        ),
        (
            FAIRNESS | {"min_disparate_impact": 1.5},
            "models.credit-risk.golden_set.fairness.min_disparate_impact: 1.5 is not <= 1",
        ),
    ],
)
def test_a_bad_fairness_section_is_named(
    tmp_path: Path, fairness: dict[str, Any], problem: str
) -> None:
    from ripcord.detect import default_registry
    from ripcord.sop.load import load

    with pytest.raises(SopError) as info:
        load(fairness_sop(tmp_path, fairness), default_registry())
    assert any(problem in str(p) for p in info.value.problems), info.value.problems


@pytest.fixture
def fair_rc(tmp_path: Path, clock: ManualClock) -> Iterator[Ripcord]:
    app = Ripcord.open(
        fairness_sop(tmp_path, FAIRNESS),
        url=f"sqlite:///{tmp_path / 'rc.db'}",
        home=tmp_path,
        clock=clock,
        channels={"console": RecordingChannel(name="console")},
    )
    yield app
    app.close()


def test_a_rollback_skips_the_unfair_version_for_the_last_compliant_one(
    fair_rc: Ripcord, clock: ManualClock
) -> None:
    rc = fair_rc
    rc.register(MODEL, "v1", FAIR, actor="ci")
    rc.register(MODEL, "v2", UNFAIR, actor="ci", parent="v1")
    rc.register(MODEL, "v3", credit.train(broken=True), actor="ci", parent="v2")
    with rc.db.session() as session:  # both served cleanly in their time
        for version in ("v1", "v2"):
            row = rc.registry.get(session, MODEL, version)
            rc.registry.mark(session, row, "good", at=clock.now(), actor="ci", reason="verified")
    rc.deploy(MODEL, "v3", actor="deploy-bot")
    reading = Reading("accuracy", 0.62, 0.8, "below", 200)
    incident = rc.responder.handle(
        Signal(MODEL, "v3", "accuracy", "accuracy", reading, clock.now())
    )
    with rc.db.session() as session:
        action = rc.rollback.find(session, incident.id)
        assert action is not None
        assert action.status == Step.AWAITING_APPROVAL.value
        assert action.data["target"] == "v1"
        tried = {t["version"]: t for t in action.data["tried"]}
    assert list(tried) == ["v2", "v1"]  # the newest good one first: refused on fairness
    failed = {c["metric"] for c in tried["v2"]["checks"] if not c["passed"]}
    assert failed == {"parity_difference", "disparate_impact"}
    assert tried["v2"]["fairness"]["attribute"] == "sex"
    assert tried["v1"]["passed"] is True
