"""Classification quality from late labels: precision, recall, F1, ROC AUC against sklearn."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from ripcord.detect import ClassificationQualityDetector
from ripcord.detect.base import DetectorRegistry, Reference
from ripcord.events import InferenceEvent, LabelEvent
from ripcord.sop.schema import DetectorSpec, ModelSop

Event = Callable[..., InferenceEvent]
Label = Callable[..., LabelEvent]
SKLEARN = {"precision": precision_score, "recall": recall_score, "f1": f1_score}


def seeded(n: int, seed: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictions, truths and the confidence of the predicted class, loosely related."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(n) < 0.35).astype(int)
    p_positive = np.clip(0.35 * truth + rng.random(n) * 0.65, 0.0, 1.0)
    prediction = (p_positive >= 0.5).astype(int)
    confidence = np.where(prediction == 1, p_positive, 1 - p_positive)
    return prediction, truth, confidence


def fed(detector: ClassificationQualityDetector, event: Event, label: Label, n: int) -> None:
    prediction, truth, confidence = seeded(n)
    for i in range(n):
        detector.observe(event(i, prediction=int(prediction[i]), confidence=float(confidence[i])))
    order = np.random.default_rng(9).permutation(n)  # labels land in any order
    for i in order:
        detector.observe_label(label(f"r{i}", int(truth[i])))


@pytest.mark.parametrize("metric", ["precision", "recall", "f1"])
def test_rates_match_sklearn_on_the_last_window_of_labels(
    metric: str, event: Event, label: Label
) -> None:
    d = ClassificationQualityDetector(name="q", window=500, metric=metric)
    fed(d, event, label, 800)
    prediction, truth, _ = seeded(800)
    last = np.random.default_rng(9).permutation(800)[-500:]  # the window closes on labels
    expected = SKLEARN[metric](truth[last], prediction[last])
    reading = d.check()
    assert reading is not None and reading.metric == metric and reading.window == 500
    assert reading.value == pytest.approx(expected, abs=1e-9)
    for name in ("precision", "recall", "f1"):
        assert reading.evidence[name] == pytest.approx(SKLEARN[name](truth[last], prediction[last]))


def test_roc_auc_matches_sklearn_with_the_positive_class_score(event: Event, label: Label) -> None:
    d = ClassificationQualityDetector(name="q", window=1000, metric="roc_auc")
    fed(d, event, label, 1000)
    prediction, truth, confidence = seeded(1000)
    p_positive = np.where(prediction == 1, confidence, 1 - confidence)
    reading = d.check()
    assert reading is not None
    assert reading.value == pytest.approx(roc_auc_score(truth, p_positive), abs=1e-9)
    assert reading.bound is not None and reading.bound > reading.value


def test_roc_auc_counts_tied_scores_half(event: Event, label: Label) -> None:
    d = ClassificationQualityDetector(name="q", window=8, metric="roc_auc", score="positive",
                                      min_labels=8)  # fmt: skip
    scores = [0.1, 0.4, 0.4, 0.4, 0.8, 0.8, 0.2, 0.9]
    truth = [0, 1, 0, 1, 1, 0, 0, 1]
    for i, s in enumerate(scores):
        d.observe(event(i, prediction=int(s >= 0.5), confidence=s))
        d.observe_label(label(f"r{i}", truth[i]))
    reading = d.check()
    assert reading is not None
    assert reading.value == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)


def test_a_named_positive_class_compares_tolerantly(event: Event, label: Label) -> None:
    d = ClassificationQualityDetector(name="q", window=10, metric="recall", positive="fraud",
                                      min_labels=4)  # fmt: skip
    for i, (predicted, actual) in enumerate([("fraud", "fraud"), ("ok", "fraud"),
                                             ("fraud", "ok"), ("ok", "ok")]):  # fmt: skip
        d.observe(event(i, prediction=predicted))
        d.observe_label(label(f"r{i}", actual))
    reading = d.check()
    assert reading is not None and reading.value == 0.5
    assert (reading.evidence["tp"], reading.evidence["fn"], reading.evidence["fp"]) == (1, 1, 1)


def test_an_undefined_metric_gives_no_reading(event: Event, label: Label) -> None:
    precision = ClassificationQualityDetector(name="p", window=10, metric="precision", min_labels=3)
    auc = ClassificationQualityDetector(name="a", window=10, metric="roc_auc", min_labels=3)
    for i in range(5):  # nothing predicted positive, nothing actually positive
        for d in (precision, auc):
            d.observe(event(i, prediction=0, confidence=0.9))
            d.observe_label(label(f"r{i}", 0))
    assert precision.check() is None and auc.check() is None


def test_auc_skips_events_without_a_confidence(event: Event, label: Label) -> None:
    d = ClassificationQualityDetector(name="a", window=10, metric="roc_auc", min_labels=1)
    d.observe(event(0, prediction=1))
    d.observe_label(label("r0", 1))
    assert d.check() is None and d._join_evidence()["ignored_labels"] == 1


def test_a_sure_drop_breaches_and_a_noisy_one_does_not(event: Event, label: Label) -> None:
    sure = ClassificationQualityDetector(name="q", window=400, metric="precision")
    noisy = ClassificationQualityDetector(name="q", window=400, metric="precision")
    for i in range(400):  # always predicts positive: precision is the positive share
        sure.observe(event(i, prediction=1))
        sure.observe_label(label(f"r{i}", int(i % 10 < 6)))  # 0.6
    for i in range(60):
        noisy.observe(event(i, prediction=1))
        noisy.observe_label(label(f"r{i}", int(i % 4 < 3)))  # 0.75 over 60: within noise
    sure_reading, noisy_reading = sure.check(), noisy.check()
    assert sure_reading is not None and sure_reading.breached
    assert noisy_reading is not None and noisy_reading.value < 0.8
    assert not noisy_reading.breached


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"metric": "accuracy"}, r"^metric: 'accuracy' must be one of precision, recall"),
        ({"positive": None}, r"^positive: None must be a class label"),
        ({"positive": [1]}, r"^positive: \[1\] must be a class label"),
        ({"score": "raw"}, r"^score: 'raw' must be one of predicted, positive"),
        ({"min_labels": 0}, r"^min_labels: 0 must be in \[1, 200\]"),
        ({"pending_limit": 0}, r"^pending_limit: 0 must be >= 1"),
    ],
)
def test_parameters_are_refused_by_name(
    registry: DetectorRegistry,
    model: ModelSop,
    reference: Reference,
    params: dict[str, object],
    message: str,
) -> None:
    spec = DetectorSpec(type="classification_quality", params=params)
    with pytest.raises(ValueError, match=message):
        registry.build(spec, model, reference)


@pytest.mark.parametrize(
    ("metric", "threshold"), [("f1", 0.8), ("precision", 0.8), ("recall", 0.8), ("roc_auc", 0.7)]
)
def test_threshold_defaults_by_metric_from_the_sop_entry(
    registry: DetectorRegistry, model: ModelSop, reference: Reference, metric: str, threshold: float
) -> None:
    spec = DetectorSpec(type="classification_quality", params={"metric": metric})
    assert registry.build(spec, model, reference).threshold == threshold
    spec = DetectorSpec(type="classification_quality", threshold=0.6, params={"metric": metric})
    assert registry.build(spec, model, reference).threshold == 0.6


def test_the_join_evidence_follows_new_predictions(event: Event, label: Label) -> None:
    d = ClassificationQualityDetector(name="q", window=10, metric="precision", min_labels=1)
    d.observe(event(0, prediction=1))
    d.observe_label(label("r0", 1))
    first = d.check()
    d.observe(event(1, prediction=1))
    second = d.check()
    assert first is not None and second is not None
    assert (first.evidence["pending"], second.evidence["pending"]) == (0, 1)
