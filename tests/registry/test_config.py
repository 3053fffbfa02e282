"""Choosing the registry in the SOP file, and the MLflow adapter's parts that need no
server: the pyfunc predictor on a model saved to a local folder, and the tag format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills import credit
from ripcord.drills.demo import MODEL
from ripcord.errors import InputError, SopError
from ripcord.registry.local import LocalRegistry
from ripcord.sop.load import parse
from tests.conftest import sop_data

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before MLflow is imported
mlflow = pytest.importorskip("mlflow")


def registry_problems(registry: Any) -> list[str]:
    data = sop_data() | {"registry": registry}
    with pytest.raises(SopError) as info:
        parse(data)
    return [str(p) for p in info.value.problems]


def test_the_local_registry_is_the_default() -> None:
    spec = parse(sop_data()).registry
    assert (spec.type, spec.tracking_uri, spec.alias) == ("local", None, "champion")


@pytest.mark.parametrize(
    ("registry", "problem"),
    [
        ({"type": "s3"}, "registry.type: 's3' is not one of 'local' or 'mlflow'"),
        ({"type": "mlflow"}, "an mlflow registry needs tracking_uri"),
        ({"tracking_uri": "http://127.0.0.1:5000"}, "is not used by the local registry"),
        (
            {"type": "mlflow", "tracking_uri": "ftp://127.0.0.1"},
            "tracking_uri 'ftp://127.0.0.1' does not start with http://",
        ),
        (
            {"type": "mlflow", "tracking_uri": "http://127.0.0.1:5000", "alias": "v2"},
            "alias 'v2' is reserved by MLflow",
        ),
        (
            {"type": "mlflow", "tracking_uri": "http://127.0.0.1:5000", "retries": 11},
            "registry.retries: 11 is not <= 10",
        ),
    ],
)
def test_a_bad_registry_section_names_the_field(registry: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in registry_problems(registry))


def test_the_sop_chooses_mlflow(tmp_path: Path) -> None:
    from ripcord.registry.mlflow import MlflowRegistry

    credit.write_golden(tmp_path / "golden" / "credit-risk.csv", n=50)
    data = sop_data() | {
        "registry": {"type": "mlflow", "tracking_uri": "http://127.0.0.1:9", "alias": "prod"}
    }
    (tmp_path / "sop.yaml").write_text(yaml.safe_dump(data))
    rc = Ripcord.open(tmp_path / "sop.yaml", home=tmp_path, clock=ManualClock())
    try:  # opening calls nothing: the port above has no server
        assert isinstance(rc.registry, MlflowRegistry)
        assert (rc.registry.uri, rc.registry.alias) == ("http://127.0.0.1:9", "prod")
        assert rc.rollback.registry is rc.registry
        with pytest.raises(InputError, match="registry.type: 'mlflow' registers versions in"):
            rc.register(MODEL, "v1", credit.train(), actor="ci")
    finally:
        rc.close()


def test_the_local_registry_keeps_validation_on_the_row(tmp_path: Path, db: Any) -> None:
    from datetime import UTC, datetime

    local = LocalRegistry(tmp_path)
    with db.session() as session:
        row = local.register(
            session,
            model=MODEL,
            version="v1",
            predictor=credit.train(),
            at=datetime(2026, 1, 1, tzinfo=UTC),
            actor="ci",
        )
        local.record_validation(session, row, {"passed": True})
        assert row.validation is None  # the rollback sets it; the hook adds nothing here
        assert local.sync(session, MODEL) == []


def test_validation_results_as_version_tags() -> None:
    from ripcord.registry.mlflow import validation_tags

    result = {
        "version": "1",
        "rows": 300,
        "passed": False,
        "error": None,
        "checks": [
            {"metric": "accuracy", "value": 0.8123456789, "threshold": 0.8, "passed": True},
            {"metric": "p95_latency_ms", "value": 61.0, "threshold": 50.0, "passed": False},
        ],
    }
    assert validation_tags(result) == {
        "ripcord.validation.passed": "false",
        "ripcord.validation.rows": "300",
        "ripcord.validation.accuracy": "0.812346",
        "ripcord.validation.p95_latency_ms": "61",
    }
    assert validation_tags({"passed": False, "rows": 0, "error": "boom"})[
        "ripcord.validation.error"
    ] == ("boom")


@pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")
def test_pyfunc_predictor_on_a_saved_sklearn_model(tmp_path: Path) -> None:
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature

    from ripcord.registry.pyfunc import open_pyfunc

    model = credit.train()
    x, _, _ = credit.sample(20, seed=5)
    frame = pd.DataFrame(x, columns=list(credit.FEATURES))
    mlflow.sklearn.save_model(
        model.estimator,
        tmp_path / "model",
        signature=infer_signature(frame, model.estimator.predict(x)),
        pip_requirements=["scikit-learn"],
    )
    predictor = open_pyfunc(tmp_path / "model")
    rows = credit.rows(x)
    assert predictor.features == credit.FEATURES
    ours, original = predictor.predict(rows), model.predict(rows)
    assert [s.prediction for s in ours] == [s.prediction for s in original]
    assert [s.confidence for s in ours] == pytest.approx([s.confidence for s in original])
    assert predictor.predict([]) == []
    with pytest.raises(ValueError, match=r"features: \['utilization'\] are missing"):
        predictor.predict([{k: v for k, v in rows[0].items() if k != "utilization"}])


def test_a_pyfunc_model_without_probabilities_has_no_confidence(tmp_path: Path) -> None:
    from ripcord.registry.pyfunc import open_pyfunc

    class Constant(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        """Refers every applicant (MLflow takes `predict`'s hints as its signature)."""

        def predict(self, model_input: list[float]) -> list[str]:
            return ["refer"] * len(model_input)

    mlflow.pyfunc.save_model(tmp_path / "model", python_model=Constant(), pip_requirements=[])
    predictor = open_pyfunc(tmp_path / "model")
    scored = predictor.predict([{"amount": 10.0}, {"amount": 20.0}])
    assert [(s.prediction, s.confidence) for s in scored] == [("refer", None), ("refer", None)]
