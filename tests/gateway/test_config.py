"""The gateway section of the SOP file, and reading a model server's answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ripcord.errors import SopError
from ripcord.events import Route
from ripcord.gateway.runtime import Record
from ripcord.gateway.upstream import body, read
from ripcord.sop import load
from ripcord.sop.gateway import GatewayModel
from tests.conftest import sop_data

MLFLOW_LIKE = GatewayModel(
    versions={"v1": "http://127.0.0.1:5001/"},
    path="/invocations",
    request_field="inputs",
    prediction="predictions.0",
    confidence=None,
)


def test_urls_and_shapes_are_read_from_the_section() -> None:
    assert MLFLOW_LIKE.url("v1") == "http://127.0.0.1:5001/invocations"
    assert MLFLOW_LIKE.url("v9") is None
    assert body(MLFLOW_LIKE, {"a": 1}) == {"inputs": {"a": 1}}
    assert read(MLFLOW_LIKE, {"predictions": [0.25, 0.5]}).prediction == 0.25


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"predictions": []}, "the answer has no 'predictions.0'"),
        ({"predictions": [[1, 2]]}, "prediction 'predictions.0' is a list"),
        ("nonsense", "the answer has no 'predictions.0'"),
    ],
)
def test_an_answer_without_a_usable_prediction_is_an_error(payload: Any, error: str) -> None:
    assert read(MLFLOW_LIKE, payload).error == error


@pytest.mark.parametrize("confidence", [1.5, -0.1, "high", True, float("nan")])
def test_a_confidence_outside_0_1_is_an_error(confidence: Any) -> None:
    spec = GatewayModel(versions={"v1": "http://127.0.0.1:1"})
    reply = read(spec, {"prediction": 1, "confidence": confidence})
    assert reply.error is not None and "is not a number in [0, 1]" in reply.error


def test_bad_sections_are_named(tmp_path: Any) -> None:
    from ripcord.detect import default_registry

    data = sop_data()
    del data["models"]["credit-risk"]["golden_set"]
    data["gateway"] = {
        "models": {
            "credit-risk": {"versions": {"v1": "ftp://127.0.0.1:1"}},
            "pricing": {"versions": {"v1": "http://127.0.0.1:1"}},
        }
    }
    path = tmp_path / "sop.yaml"
    import yaml

    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        SopError, match=r"gateway.models.credit-risk.versions.v1.*not an http\(s\) URL"
    ):
        load.load(path, default_registry())
    data["gateway"]["models"]["credit-risk"]["versions"]["v1"] = "http://127.0.0.1:1"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SopError, match="gateway.models.pricing: 'pricing' is not a defined model"):
        load.load(path, default_registry())


def test_a_nested_input_is_recorded_as_its_json_text() -> None:
    record = Record(
        model="credit-risk",
        version="v1",
        request_id="r1",
        at=datetime(2026, 1, 1, tzinfo=UTC),
        features={"income_k": 50.0, "history": [1, 2]},
        prediction=1,
        confidence=None,
        latency_ms=1.5,
        route=Route.CHAMPION,
    )
    assert record.event().features == {"income_k": 50.0, "history": "[1, 2]"}
