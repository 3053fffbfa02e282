"""Accuracy: late labels joined by request id, in bounded memory."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ripcord.detect import AccuracyDetector
from ripcord.detect.accuracy import same_label
from ripcord.detect.base import Detector, DetectorRegistry, Reference
from ripcord.events import InferenceEvent, LabelEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop

Event = Callable[..., InferenceEvent]
Label = Callable[..., LabelEvent]


def test_labels_join_by_request_id_whatever_their_order(event: Event, label: Label) -> None:
    d = AccuracyDetector(name="a", window=10, threshold=0.8, min_labels=4)
    for i, prediction in enumerate(["cat", "dog", "cat", "dog"]):
        d.observe(event(i, prediction=prediction))
    for request_id, truth in [("r3", "dog"), ("r0", "cat"), ("r2", "dog"), ("r1", "dog")]:
        d.observe_label(label(request_id, truth))
    reading = d.check()
    assert reading is not None
    assert reading.value == pytest.approx(0.75)
    # 3 of 4 is under 0.8, but four labels cannot show it with 99 % confidence.
    assert reading.bound is not None and reading.bound > 0.8 and not reading.breached
    assert reading.evidence["labelled"] == 4 and reading.evidence["pending"] == 0


def test_a_sure_shortfall_breaches_and_a_noisy_one_does_not(event: Event, label: Label) -> None:
    sure = AccuracyDetector(name="a", window=500, threshold=0.8)
    noisy = AccuracyDetector(name="a", window=500, threshold=0.8)
    for i in range(500):
        correct = i % 10 < 7  # 70 % accurate
        sure.observe(event(i, prediction=1))
        sure.observe_label(label(f"r{i}", 1 if correct else 0))
    for i in range(60):
        correct = i % 20 < 15  # 75 % over 60 labels: within noise of 0.8
        noisy.observe(event(i, prediction=1))
        noisy.observe_label(label(f"r{i}", 1 if correct else 0))
    sure_reading, noisy_reading = sure.check(), noisy.check()
    assert sure_reading is not None and sure_reading.breached
    assert noisy_reading is not None and noisy_reading.value < 0.8 and not noisy_reading.breached


def test_unknown_duplicate_and_null_labels_are_ignored(event: Event, label: Label) -> None:
    d = AccuracyDetector(name="a", window=10, threshold=0.5, min_labels=1)
    d.observe(event(0, prediction=1))
    d.observe(event(1, prediction=1))
    d.observe_label(label("nobody", 1))
    d.observe_label(label("r0", 1))
    d.observe_label(label("r0", 0))  # second label for a scored id
    d.observe_label(label("r1", None))
    reading = d.check()
    assert reading is not None and reading.value == 1.0 and reading.window == 1
    assert reading.evidence["ignored_labels"] == 3


def test_only_served_champion_predictions_are_scored(event: Event, label: Label) -> None:
    d = AccuracyDetector(name="a", window=10, threshold=0.5, min_labels=1)
    d.observe(event(0, prediction=1, route=Route.FALLBACK))
    d.observe(event(1, prediction=None, error="boom"))
    d.observe_label(label("r0", 1))
    d.observe_label(label("r1", 1))
    assert d.check() is None


def test_pending_predictions_are_bounded_oldest_dropped(event: Event, label: Label) -> None:
    d = AccuracyDetector(name="a", window=10, threshold=0.5, pending_limit=100, min_labels=1)
    for i in range(5_000):
        d.observe(event(i, prediction=1))
    assert len(d._pending) == 100
    d.observe_label(label("r0", 1))  # dropped long ago
    assert d.check() is None
    d.observe_label(label("r4999", 1))
    reading = d.check()
    assert reading is not None and reading.evidence["dropped_unlabelled"] == 4_900


def test_min_labels_defaults_to_window_capped_at_50() -> None:
    assert AccuracyDetector(name="a", window=20, threshold=0.5).min_labels == 20
    assert AccuracyDetector(name="a", window=500, threshold=0.5).min_labels == 50


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pending_limit": 0}, r"^pending_limit: 0 must be >= 1"),
        ({"min_labels": 0}, r"^min_labels: 0 must be in \[1, 20\]"),
        ({"min_labels": 21}, r"^min_labels: 21 must be in \[1, 20\]"),
        ({"threshold": 1.2}, r"^threshold: 1\.2 must be in \[0, 1\]"),
    ],
)
def test_parameters_are_validated_by_name(kwargs: dict[str, object], message: str) -> None:
    params: dict[str, object] = {"threshold": 0.8, **kwargs}
    with pytest.raises(ValueError, match=message):
        AccuracyDetector(name="a", window=20, **params)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prediction", "label", "same"),
    [
        (1, 1.0, True),
        (1, "1", True),
        ("1.0", 1, True),
        (True, 1, True),
        (0.1 + 0.2, 0.3, True),
        (1, 2, False),
        ("cat", "cat", True),
        ("cat", "Cat", False),
        ("cat", 1, False),
    ],
)
def test_labels_compare_tolerantly(prediction: object, label: object, same: bool) -> None:
    assert same_label(prediction, label) is same  # type: ignore[arg-type]


@pytest.mark.parametrize("family", ["accuracy", "classification_quality", "regression_error"])
def test_the_window_closes_on_labels_not_on_predictions(
    registry: DetectorRegistry,
    model: ModelSop,
    reference: Reference,
    family: str,
    event: Event,
    label: Label,
) -> None:
    """Every late-label family: predictions served after the labelled ones, never labelled,
    leave the window as it was; a late label for an old prediction moves it."""

    def build() -> Detector:
        spec = DetectorSpec(type=family, window=20, threshold=0.5, params={"min_labels": 20})
        return registry.build(spec, model, reference)

    d, fresh = build(), build()
    for i in range(40):
        d.observe(event(i, prediction=1))
        fresh.observe(event(i, prediction=1))
    for i in reversed(range(20)):
        d.observe_label(label(f"r{i}", 1 if i % 3 else 0))
    before = d.check()
    assert before is not None and before.window == 20
    for i in range(40, 540):  # 500 more predictions, no label yet
        d.observe(event(i, prediction=1))
    after = d.check()
    assert after is not None and (after.value, after.window) == (before.value, before.window)
    d.observe_label(label("r20", 0))  # served 520 predictions ago
    moved = d.check()
    for i in reversed(range(19)):  # r19 came first, so it is the label pushed out
        fresh.observe_label(label(f"r{i}", 1 if i % 3 else 0))
    fresh.observe_label(label("r20", 0))
    expected = fresh.check()
    assert moved is not None and expected is not None and moved.value != before.value
    assert (moved.value, moved.window) == (expected.value, expected.window)
