"""Regression error from late labels: MAE and RMSE against sklearn, and the learnt baseline."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, root_mean_squared_error

from ripcord.detect import RegressionErrorDetector
from ripcord.detect.base import DetectorRegistry, Reference
from ripcord.events import InferenceEvent, LabelEvent
from ripcord.sop.schema import DetectorSpec, ModelSop

Event = Callable[..., InferenceEvent]
Label = Callable[..., LabelEvent]


def serve(
    d: RegressionErrorDetector, event: Event, label: Label, truth: np.ndarray, noise: np.ndarray,
    start: int = 0,
) -> None:  # fmt: skip
    for k, (y, e) in enumerate(zip(truth, noise, strict=True)):
        i = start + k
        d.observe(event(i, prediction=float(y + e)))
        d.observe_label(label(f"r{i}", float(y)))


@pytest.mark.parametrize(
    ("metric", "reference"), [("mae", mean_absolute_error), ("rmse", root_mean_squared_error)]
)
def test_errors_match_sklearn_on_the_window(
    metric: str, reference: Callable[..., float], event: Event, label: Label
) -> None:
    rng = np.random.default_rng(21)
    truth, noise = rng.gamma(2.0, 50.0, 700), rng.standard_t(3, 700) * 5
    d = RegressionErrorDetector(name="r", window=500, threshold=10.0, metric=metric)
    serve(d, event, label, truth, noise)
    reading = d.check()
    assert reading is not None and reading.metric == metric and reading.window == 500
    expected = reference(truth[-500:], truth[-500:] + noise[-500:])
    assert reading.value == pytest.approx(expected, abs=1e-9)
    assert reading.evidence["mean_error"] == pytest.approx(float(noise[-500:].mean()))


def test_without_a_threshold_the_first_window_is_the_baseline(event: Event, label: Label) -> None:
    rng = np.random.default_rng(5)
    d = RegressionErrorDetector(name="r", window=200)  # tolerance 1.5
    truth, calm = rng.normal(100, 20, 1000), rng.normal(0, 4, 600)
    serve(d, event, label, truth[:199], calm[:199])
    assert d.check() is None  # no threshold until the baseline is in
    serve(d, event, label, truth[199:600], calm[199:], start=199)
    assert d.baseline == pytest.approx(float(np.abs(calm[:200]).mean()), abs=1e-12)
    assert d.threshold == pytest.approx(1.5 * float(np.abs(calm[:200]).mean()))
    reading = d.check()
    assert reading is not None and not reading.breached
    serve(d, event, label, truth[600:], rng.normal(0, 12, 400), start=600)  # 3x the error
    worse = d.check()
    assert worse is not None and worse.breached and worse.evidence["baseline"] == d.baseline


def test_a_bias_shows_in_the_mean_error(event: Event, label: Label) -> None:
    d = RegressionErrorDetector(name="r", window=100, threshold=5.0, metric="rmse")
    rng = np.random.default_rng(2)
    serve(d, event, label, rng.normal(50, 10, 100), np.full(100, 8.0))
    reading = d.check()
    assert reading is not None and reading.breached
    assert reading.value == pytest.approx(8.0) and reading.evidence["mean_error"] == 8.0


def test_non_numeric_predictions_and_labels_are_skipped(event: Event, label: Label) -> None:
    d = RegressionErrorDetector(name="r", window=10, threshold=1.0, min_labels=1)
    d.observe(event(0, prediction="high"))
    d.observe(event(1, prediction=True))
    d.observe(event(2, prediction="3.5"))
    d.observe(event(3, prediction=2.0))
    for request_id, truth in [("r0", 1.0), ("r1", 1.0), ("r2", 3.0), ("r3", "n/a")]:
        d.observe_label(label(request_id, truth))
    reading = d.check()
    assert reading is not None and reading.window == 1 and reading.value == 0.5
    assert reading.evidence["ignored_labels"] == 3


def test_reset_forgets_the_learnt_baseline(event: Event, label: Label) -> None:
    d = RegressionErrorDetector(name="r", window=50)
    rng = np.random.default_rng(8)
    serve(d, event, label, rng.normal(0, 1, 50), rng.normal(0, 1, 50))
    assert d.baseline is not None
    d.reset()
    assert d.baseline is None and d.check() is None


@pytest.mark.parametrize(
    ("params", "threshold", "message"),
    [
        ({"metric": "mape"}, None, r"^metric: 'mape' must be one of mae, rmse"),
        ({"tolerance": 0.5}, None, r"^tolerance: 0\.5 must be in \[1, 1e\+06\]"),
        ({}, 0.0, r"^threshold: 0\.0 must be in \(0, inf\)"),
    ],
)
def test_parameters_are_refused_by_name(
    registry: DetectorRegistry,
    model: ModelSop,
    reference: Reference,
    params: dict[str, object],
    threshold: float | None,
    message: str,
) -> None:
    spec = DetectorSpec(type="regression_error", threshold=threshold, params=params)
    with pytest.raises(ValueError, match=message):
        registry.build(spec, model, reference)
