"""The quality, data-quality, latency and throughput families as an SOP file configures them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ripcord.detect import DataQualityDetector, LatencyDetector, default_registry
from ripcord.detect.base import Reference
from ripcord.errors import SopError
from ripcord.sop import load
from tests.conftest import sop_data

FAMILIES: list[dict[str, Any]] = [
    {"type": "classification_quality", "params": {"metric": "recall", "positive": 1}},
    {"type": "classification_quality", "name": "auc", "params": {"metric": "roc_auc"}},
    {"type": "regression_error", "threshold": 2.5, "params": {"metric": "rmse"}},
    {"type": "data_quality", "params": {"checks": ["null", "range"], "range_margin": 0.1}},
    {"type": "latency", "name": "p99", "params": {"quantile": 0.99, "slices": 20}},
    {"type": "throughput", "window": 500, "threshold": 0.2, "params": {"baseline_windows": 2}},
]


def with_detectors(tmp_path: Path, detectors: list[dict[str, Any]]) -> Path:
    data = sop_data()
    data["models"]["credit-risk"]["detectors"] = detectors
    (tmp_path / "golden").mkdir(exist_ok=True)
    (tmp_path / "golden" / "credit-risk.csv").write_text("label\n1\n")
    path = tmp_path / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_families_build_from_an_sop_file(tmp_path: Path) -> None:
    registry = default_registry()
    sop = load.load(with_detectors(tmp_path, FAMILIES), registry)
    model = sop.models["credit-risk"]
    built = [registry.build(spec, model, Reference(10)) for spec in model.detectors]
    assert [d.family for d in built] == [f["type"] for f in FAMILIES]
    recall, auc, rmse, quality, p99, rate = built
    assert (recall.threshold, auc.threshold, rmse.threshold, rate.threshold) == (0.8, 0.7, 2.5, 0.2)
    assert isinstance(quality, DataQualityDetector) and isinstance(p99, LatencyDetector)
    assert quality.checks == frozenset({"null", "range"}) and p99.metric == "p99_latency_ms"


@pytest.mark.parametrize(
    ("detector", "problem"),
    [
        ({"type": "classification_quality", "params": {"metric": "auc"}}, "metric: 'auc'"),
        ({"type": "regression_error", "params": {"tolerance": 0}}, "tolerance: 0"),
        ({"type": "data_quality", "params": {"checks": ["nulls"]}}, "checks: ['nulls']"),
        ({"type": "throughput", "threshold": 2}, "threshold: 2.0"),
        ({"type": "latency", "params": {"slices": 0}}, "slices: 0"),
    ],
)
def test_bad_parameters_are_reported_with_their_path(
    tmp_path: Path, detector: dict[str, Any], problem: str
) -> None:
    with pytest.raises(SopError) as info:
        load.load(with_detectors(tmp_path, [detector]), default_registry())
    found = [str(p) for p in info.value.problems]
    assert any(p.startswith(f"models.credit-risk.detectors[0].{problem}") for p in found), found
