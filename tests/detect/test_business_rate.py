"""Business rates from feedback joined by request id: click-through and false positives."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ripcord.detect import default_registry
from ripcord.detect.base import Reference
from ripcord.detect.business import BusinessRateDetector
from ripcord.events import FeedbackEvent, InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop, Slas

Event = Callable[..., InferenceEvent]
Feedback = Callable[..., FeedbackEvent]


def rate(**kwargs: object) -> BusinessRateDetector:
    params: dict[str, object] = {"name": "ctr", "window": 100, "threshold": 0.2, **kwargs}
    return BusinessRateDetector(**params)  # type: ignore[arg-type]


def test_clicks_join_by_request_id_whatever_their_order(event: Event, feedback: Feedback) -> None:
    d = rate(min_outcomes=4)
    for i in range(4):
        d.observe(event(i, prediction="item-7"))
    d.observe_feedback(feedback("r3", 1.0, "u"))  # a click
    d.observe_feedback(feedback("r0", 0.0, "u"))  # seen, not clicked
    d.observe_feedback(feedback("r2", -1.0, "u"))  # disliked: not clicked either
    assert d.check() is None  # three closed, four needed
    d.observe_feedback(feedback("r1", 0.5, "u"))
    reading = d.check()
    assert reading is not None
    assert (reading.metric, reading.value, reading.direction) == ("click_through", 0.5, "below")
    assert reading.evidence["hits"] == 2 and reading.evidence["pending"] == 0


def test_a_prediction_without_feedback_closes_unclicked_after_the_horizon(
    event: Event, feedback: Feedback
) -> None:
    d = rate(min_outcomes=1, horizon_s=60)
    d.observe(event(0, prediction=1))
    d.observe(event(60, prediction=1))  # r0 has waited exactly the horizon: still open
    assert d.check() is None
    d.observe(event(61, prediction=1))  # now past it: closed as not clicked
    reading = d.check()
    assert reading is not None and (reading.value, reading.evidence["expired"]) == (0.0, 1)
    d.observe_feedback(feedback("r0", 1.0, "u", 62))  # a click after it closed: ignored
    d.observe_feedback(feedback("r60", 1.0, "u", 200))  # its own time expires r60 first
    reading = d.check()
    assert reading is not None
    assert (reading.evidence["ignored"], reading.evidence["expired"]) == (2, 3)


def test_pending_predictions_are_bounded_and_pushed_out_unclicked(
    event: Event, feedback: Feedback
) -> None:
    d = rate(min_outcomes=1, pending_limit=2)
    for i in range(3):
        d.observe(event(i, prediction=1))
    reading = d.check()
    assert reading is not None and reading.evidence["evicted"] == 1
    assert reading.evidence["pending"] == 2


def test_only_served_champion_answers_are_impressions(event: Event, feedback: Feedback) -> None:
    d = rate(min_outcomes=1)
    d.observe(event(0, prediction=1, route=Route.FALLBACK))
    d.observe(event(1, prediction=1, error="TimeoutError"))
    d.observe(event(2, prediction=None))
    for i in range(3):
        d.observe_feedback(feedback(f"r{i}", 1.0, "u"))
    d.observe_feedback(feedback(None, 1.0, "u"))  # no request id: nothing to join
    assert d.check() is None


def test_a_sure_click_through_fall_breaches_and_a_noisy_one_does_not(
    event: Event, feedback: Feedback
) -> None:
    d = rate(min_outcomes=10)
    for i in range(10):  # one click in ten: 0.1 < 0.2, but ten impressions prove little
        d.observe(event(i, prediction=1))
        d.observe_feedback(feedback(f"r{i}", 1.0 if i == 0 else 0.0, "u"))
    reading = d.check()
    assert reading is not None and reading.value == pytest.approx(0.1) and not reading.breached
    for i in range(10, 110):  # five in a hundred
        d.observe(event(i, prediction=1))
        d.observe_feedback(feedback(f"r{i}", 1.0 if i % 20 == 0 else 0.0, "u"))
    reading = d.check()
    assert reading is not None and reading.value == pytest.approx(0.05) and reading.breached


def test_false_positive_rate_counts_overturned_positive_predictions(
    event: Event, feedback: Feedback
) -> None:
    d = rate(rate="false_positive", min_outcomes=3, positive="fraud")
    for i, prediction in enumerate(("fraud", "ok", "fraud", "fraud", "fraud")):
        d.observe(event(i, prediction=prediction))
    d.observe_feedback(feedback("r0", -1.0, "analyst"))  # flag overturned: a false positive
    d.observe_feedback(feedback("r1", -1.0, "analyst"))  # a negative prediction: not scored
    d.observe_feedback(feedback("r2", 0.0, "analyst"))  # no verdict
    d.observe_feedback(feedback("r3", 1.0, "analyst"))  # confirmed
    assert d.check() is None
    d.observe_feedback(feedback("r4", -0.5, "analyst"))
    reading = d.check()
    assert reading is not None
    assert (reading.metric, reading.direction) == ("false_positive", "above")
    assert reading.value == pytest.approx(2 / 3)
    assert (reading.evidence["no_verdict"], reading.evidence["ignored"]) == (1, 1)


def test_false_positives_never_expire(event: Event, feedback: Feedback) -> None:
    d = rate(rate="false_positive", min_outcomes=1, horizon_s=1)
    d.observe(event(0, prediction=1))
    d.observe(event(1000, prediction=1))
    d.observe_feedback(feedback("r0", -1.0, "analyst", 2000))  # a review weeks later counts
    reading = d.check()
    assert reading is not None and reading.value == 1.0 and reading.evidence["expired"] == 0


def test_reset_forgets_everything(event: Event, feedback: Feedback) -> None:
    d = rate(min_outcomes=1)
    d.observe(event(0, prediction=1))
    d.observe(event(1, prediction=1))
    d.observe_feedback(feedback("r0", 1.0, "u"))
    d.reset()
    assert d.check() is None
    d.observe_feedback(feedback("r1", 1.0, "u"))  # its prediction was forgotten too
    assert d.check() is None


def build(rate_: str | None, slas: Slas, threshold: float | None = None) -> BusinessRateDetector:
    params = {} if rate_ is None else {"rate": rate_}
    spec = DetectorSpec(type="business_rate", threshold=threshold, params=params)
    detector = default_registry().build(spec, ModelSop(owner="t", slas=slas), Reference(10))
    assert isinstance(detector, BusinessRateDetector)
    return detector


def test_the_threshold_defaults_from_the_rate_s_own_sla() -> None:
    slas = Slas(min_click_through=0.04, max_false_positive_rate=0.3)
    assert build(None, slas).threshold == 0.04
    assert build("false_positive", slas).threshold == 0.3
    assert build("false_positive", slas, threshold=0.1).threshold == 0.1
    with pytest.raises(ValueError, match="^threshold: None needs a value"):
        build("false_positive", Slas(min_click_through=0.04))
    with pytest.raises(ValueError, match="^rate: 'ctr' must be one of click_through"):
        build("ctr", slas)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": "revenue"}, r"^rate: 'revenue' must be one of click_through, false_positive"),
        ({"threshold": 2.0}, r"^threshold: 2\.0 must be in \[0, 1\]"),
        ({"horizon_s": 0}, r"^horizon_s: 0 must be in \(0, 1e\+09\)"),
        ({"pending_limit": 0}, r"^pending_limit: 0 must be >= 1"),
        ({"min_outcomes": 101}, r"^min_outcomes: 101 must be in \[1, 100\]"),
        ({"positive": None}, r"^positive: None must be"),
    ],
)
def test_parameters_are_validated_by_name(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rate(**kwargs)
