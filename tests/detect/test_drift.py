"""Prediction and feature drift: PSI and KS against hand and scipy figures, categorical and
missing values, and a reference that is profiled once."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from scipy.stats import ks_2samp

from ripcord.detect import FeatureDriftDetector, PredictionDriftDetector, stats
from ripcord.detect import drift as drift_module
from ripcord.detect.base import DetectorRegistry, Reading, Reference
from ripcord.detect.stats import EPSILON, build_profile
from ripcord.events import InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop

Event = Callable[..., InferenceEvent]


def reference_of(predictions: Sequence[Any], features: Sequence[dict[str, Any]] = ()) -> Reference:
    reference = Reference(len(predictions))
    rows = list(features) or [{} for _ in predictions]
    for row, prediction in zip(rows, predictions, strict=True):
        reference.add(row, prediction)
    return reference


def predicted(detector: PredictionDriftDetector, values: Sequence[Any], event: Event) -> Reading:
    for i, value in enumerate(values):
        detector.observe(event(i, prediction=value))
    reading = detector.check()
    assert reading is not None
    return reading


def fed(detector: FeatureDriftDetector, rows: Sequence[dict[str, Any]], event: Event) -> Reading:
    for i, row in enumerate(rows):
        detector.observe(event(i, features=row))
    reading = detector.check()
    assert reading is not None
    return reading


def test_psi_matches_a_hand_computation(event: Event) -> None:
    # Reference 0..99 in 4 bins: edges at 24.75, 49.5, 74.25, so 25 values (0.25) per bin.
    reference = reference_of([float(v) for v in range(100)])
    window = list(range(25)) * 2 + list(range(25, 75))  # shares 0.5, 0.25, 0.25, 0
    d = PredictionDriftDetector(name="p", window=100, reference=reference, bins=4)
    reading = predicted(d, [float(v) for v in window], event)
    by_hand = (0.5 - 0.25) * math.log(0.5 / 0.25) + (EPSILON - 0.25) * math.log(EPSILON / 0.25)
    assert reading.value == pytest.approx(by_hand, rel=1e-12)
    assert reading.metric == "prediction_psi" and reading.breached


def test_categorical_psi_gives_unseen_categories_their_own_bucket(event: Event) -> None:
    reference = reference_of(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    d = PredictionDriftDetector(name="p", window=100, reference=reference, bins=5)
    reading = predicted(d, ["a"] * 40 + ["b"] * 30 + ["c"] * 10 + ["d"] * 20, event)
    by_hand = (
        (0.4 - 0.5) * math.log(0.4 / 0.5)
        + (0.1 - 0.2) * math.log(0.1 / 0.2)
        + (0.2 - EPSILON) * math.log(0.2 / EPSILON)
    )
    assert reading.value == pytest.approx(by_hand, rel=1e-12)
    assert reading.evidence["kind"] == "categorical"
    assert reading.evidence["shifts"][0] == {
        "category": "(unseen)",
        "reference_share": 0.0,
        "window_share": 0.2,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("discrete", [False, True])
def test_ks_statistic_and_p_value_match_scipy(seed: int, discrete: bool, event: Event) -> None:
    rng = np.random.default_rng(seed)
    if discrete:  # many ties
        ref, win = rng.integers(0, 6, 400).astype(float), rng.integers(1, 7, 150).astype(float)
    else:
        ref, win = rng.normal(0, 1, 400), rng.normal(0.3, 1.2, 150)
    reference = reference_of([float(v) for v in ref])
    d = PredictionDriftDetector(name="p", window=150, reference=reference, method="ks")
    reading = predicted(d, [float(v) for v in win], event)
    expected = ks_2samp(ref, win, method="asymp")
    assert reading.value == pytest.approx(float(expected.statistic), abs=1e-9)
    assert reading.evidence["p_value"] == pytest.approx(float(expected.pvalue), rel=1e-9)
    assert reading.metric == "prediction_ks" and reading.threshold == 0.15


def test_ks_falls_back_to_psi_for_a_categorical_column(event: Event) -> None:
    reference = reference_of(["yes", "no"] * 50)
    d = PredictionDriftDetector(name="p", window=10, reference=reference, method="ks")
    reading = predicted(d, ["yes"] * 10, event)
    assert reading.evidence["method"] == "psi" and reading.metric == "prediction_psi"


def test_feature_drift_ranks_the_shifted_feature_first(event: Event) -> None:
    rng = np.random.default_rng(42)

    def rows(n: int, shift: float) -> list[dict[str, Any]]:
        a, b, c = rng.normal(0, 1, n), rng.normal(10, 2, n), rng.normal(0, 1, n)
        return [
            {"a": float(a[i]), "b": float(b[i]) + shift, "c": float(c[i]), "k": "x"}
            for i in range(n)
        ]

    reference = reference_of([0] * 500, rows(500, 0.0))
    d = FeatureDriftDetector(name="f", window=200, reference=reference)
    reading = fed(d, rows(200, 3.0), event)
    top = reading.evidence["top_features"]
    assert top[0]["feature"] == "b"
    assert len(top) == 4  # every feature, up to 5
    assert [t["statistic"] for t in top] == sorted((t["statistic"] for t in top), reverse=True)
    assert top[0]["window_mean"] - top[0]["reference_mean"] == pytest.approx(3.0, abs=0.5)
    assert set(top[0]) >= {"feature", "statistic", "reference_mean", "window_mean"}
    assert reading.value == top[0]["statistic"] and reading.breached
    assert reading.evidence["drifted_features"] == ["b"]
    assert reading.metric == "max_feature_psi"


def test_none_values_are_counted_and_never_crash(event: Event) -> None:
    ref_rows = [
        {"x": float(i % 10) if i % 5 else None, "k": "a" if i % 2 else None} for i in range(100)
    ]
    reference = reference_of([None] * 100, ref_rows)
    for method in ("psi", "ks"):
        d = FeatureDriftDetector(name="f", window=40, reference=reference, method=method, bins=2)
        reading = fed(d, [{"x": None, "k": None, "new": 1}] * 40, event)
        assert reading.evidence["missing"] == {"k": 40, "x": 40}
        assert reading.breached  # a feature gone missing is drift
        if method == "ks":
            assert {t["feature"]: t["statistic"] for t in reading.evidence["top_features"]}[
                "x"
            ] == 1
    # Predictions all None in the reference: nothing to compare against, no reading.
    d2 = PredictionDriftDetector(name="p", window=10, reference=reference, method="ks")
    for i in range(10):
        d2.observe(event(i, prediction=None))
    assert d2.check() is None


def test_non_numbers_in_a_numeric_column_count_as_missing(event: Event) -> None:
    reference = reference_of([float(v) for v in range(50)])
    d = PredictionDriftDetector(name="p", window=10, reference=reference, method="ks")
    reading = predicted(d, [1.0] * 5 + ["oops", None, float("nan"), True, 2.0], event)
    assert reading.evidence["missing"] == 4  # bools are not numbers


def test_bool_column_is_categorical() -> None:
    profile = build_profile([True, False, True], bins=10)
    assert profile is not None and profile.kind == "categorical"


def test_reads_only_when_reference_frozen_and_window_full(event: Event) -> None:
    reference = Reference(12)
    d = PredictionDriftDetector(name="p", window=10, reference=reference, method="ks")
    for i in range(11):
        reference.add({}, float(i))
        d.observe(event(i, prediction=float(i)))
    assert d.check() is None  # window full, reference not frozen
    reference.add({}, 11.0)
    assert d.check() is not None
    d.reset()
    d.observe(event(9, prediction=1.0))
    assert d.check() is None  # reference still frozen, window not full


def test_non_champion_events_stay_out_of_the_window(event: Event) -> None:
    reference = reference_of([0.0, 1.0])
    d = FeatureDriftDetector(name="f", window=10, reference=reference, method="ks")
    d.observe(event(0, route=Route.FALLBACK))
    d.observe(event(1, route=Route.KILLED))
    assert d.check() is None


def test_reference_profiles_are_built_once(
    event: Event, reference: Reference, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = stats.build_profile

    def counting(values: Sequence[object], bins: int) -> object:
        calls.append(bins)
        return real(values, bins)

    monkeypatch.setattr(drift_module, "build_profile", counting)
    d = FeatureDriftDetector(name="f", window=40, reference=reference, bins=2)
    for i in range(60):
        d.observe(event(i, features={"x1": 0.1 * i, "x2": 5.0, "color": "red"}))
        d.check()
    d.reset()
    assert len(calls) == 3  # x1, x2, color: once each, not once per check


def test_confidence_drift_freezes_its_own_baseline(event: Event) -> None:
    reference = Reference(400)
    d = PredictionDriftDetector(name="p", window=200, reference=reference, on="confidence")
    rng = np.random.default_rng(3)
    for i, c in enumerate(rng.beta(9, 2, 600)):
        d.observe(event(i, confidence=float(c)))
    calm = d.check()
    assert calm is not None and not calm.breached and calm.metric == "confidence_psi"
    for i, c in enumerate(rng.beta(2, 5, 200)):
        d.observe(event(100 + i, confidence=float(c)))
    drifted = d.check()
    assert drifted is not None and drifted.breached
    assert drifted.evidence["window_mean"] < drifted.evidence["reference_mean"]


def test_threshold_defaults_by_method_through_the_registry(
    registry: DetectorRegistry, model: ModelSop, reference: Reference
) -> None:
    for family in ("prediction_drift", "feature_drift"):
        psi = registry.build(DetectorSpec(type=family), model, reference)
        ks = registry.build(DetectorSpec(type=family, params={"method": "ks"}), model, reference)
        own = registry.build(DetectorSpec(type=family, threshold=0.5), model, reference)
        assert (psi.threshold, ks.threshold, own.threshold) == (0.2, 0.15, 0.5)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"method": "chi2"}, r"^method: 'chi2' must be one of psi, ks"),
        ({"bins": 1}, r"^bins: 1 must be in \[2, 1000\]"),
        ({"on": "latency"}, r"^on: 'latency' must be one of prediction, confidence"),
        ({"method": "ks", "threshold": 1.5}, r"^threshold: 1\.5 must be in \[0, 1\]"),
        ({"reference": [1, 2]}, r"^reference: list must be a Reference"),
        ({"bins": 11}, r"^bins: 11 needs window >= 220 \(20 events per bin\), not 200"),
    ],
)
def test_parameters_are_validated_by_name(params: dict[str, Any], message: str) -> None:
    kwargs: dict[str, Any] = {"reference": Reference(10), **params}
    with pytest.raises(ValueError, match=message):
        PredictionDriftDetector(name="p", window=200, **kwargs)


def test_a_reading_is_reused_until_the_window_changes(
    event: Event, label: Callable[..., Any], reference: Reference
) -> None:
    d = FeatureDriftDetector(name="f", window=10, reference=reference, method="ks")
    for i in range(10):
        d.observe(event(i, features={"x1": float(i), "x2": 5.0, "color": "red"}))
    first = d.check()
    d.observe_label(label("r1", 1))  # labels do not move drift
    assert first is not None and d.check() is first
    d.observe(event(10, features={"x1": 100.0, "x2": 5.0, "color": "red"}))
    second = d.check()
    assert second is not None and second is not first and second.evidence != first.evidence
    d.reset()
    assert d.check() is None
