"""Fairness: the three measures against a numpy hand computation, minimum group size, the
late-label join for equal opportunity, and the 99 % bound that keeps noise quiet."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from ripcord.detect import FairnessDetector
from ripcord.detect.base import DetectorRegistry, Reference
from ripcord.detect.fairness import Rate, impact_ratio
from ripcord.events import InferenceEvent, LabelEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop

Event = Callable[..., InferenceEvent]
Label = Callable[..., LabelEvent]


def seeded(n: int, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Groups a/b/c with positive rates 0.6/0.4/0.3 and labels 80 % right."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], p=[0.5, 0.3, 0.2], size=n)
    rate = np.select([group == "a", group == "b"], [0.6, 0.4], 0.3)
    predicted = (rng.random(n) < rate).astype(int)
    truth = np.where(rng.random(n) < 0.8, predicted, 1 - predicted)
    return [str(g) for g in group], predicted, truth


def feed(d: FairnessDetector, event: Event, label: Label, n: int, seed: int = 0) -> None:
    group, predicted, truth = seeded(n, seed)
    for i in range(n):
        d.observe(event(i, prediction=int(predicted[i]), segment={"group": group[i]}))
    for i in reversed(range(n)):  # labels land in any order
        d.observe_label(label(f"r{i}", int(truth[i])))


def test_measures_match_a_numpy_hand_computation(event: Event, label: Label) -> None:
    n = 1000
    group, predicted, truth = seeded(n)
    g = np.asarray(group)
    rates = {k: predicted[g == k].mean() for k in ("a", "b", "c")}
    tprs = {k: predicted[(g == k) & (truth == 1)].mean() for k in ("a", "b", "c")}
    readings = {}
    for metric in ("demographic_parity", "disparate_impact", "equal_opportunity"):
        d = FairnessDetector(name="f", window=n, metric=metric)
        feed(d, event, label, n)
        reading = d.check()
        assert reading is not None and reading.metric == metric
        readings[metric] = reading
    dp = readings["demographic_parity"]
    assert dp.value == pytest.approx(max(rates.values()) - min(rates.values()), abs=1e-12)
    di = readings["disparate_impact"]
    assert di.value == pytest.approx(min(rates.values()) / max(rates.values()), abs=1e-12)
    eo = readings["equal_opportunity"]
    assert eo.value == pytest.approx(max(tprs.values()) - min(tprs.values()), abs=1e-12)
    assert eo.window == n  # the labelled outcomes
    groups = dp.evidence["groups"]
    for k in ("a", "b", "c"):
        assert groups[k]["count"] == int((g == k).sum())
        assert groups[k]["positive_rate"] == pytest.approx(rates[k], abs=1e-12)
        assert groups[k]["true_positive_rate"] == pytest.approx(tprs[k], abs=1e-12)
    assert dp.evidence["highest_group"] == "a" and dp.evidence["lowest_group"] == "c"
    # every reading reports all three measures, whichever is judged
    assert dp.evidence["disparate_impact_ratio"] == pytest.approx(di.value)
    assert di.evidence["equal_opportunity_difference"] == pytest.approx(eo.value)


def test_four_fifths_rule_breaches_under_point_eight_only_when_sure(event: Event) -> None:
    def detector(rate_b: float, n: int) -> FairnessDetector:
        d = FairnessDetector(name="f", window=2 * n)
        for i in range(n):  # group a: 60 % positive; group b: `rate_b`
            d.observe(event(2 * i, prediction=int(i % 10 < 6), segment={"group": "a"}))
            b = int(i % 100 < round(rate_b * 100))
            d.observe(event(2 * i + 1, prediction=b, segment={"group": "b"}))
        return d

    unfair = detector(0.36, 1000).check()  # ratio 0.6
    assert unfair is not None and unfair.value == pytest.approx(0.6)
    assert unfair.direction == "below" and unfair.breached
    fair = detector(0.51, 1000).check()  # ratio 0.85: passes the four-fifths rule
    assert fair is not None and not fair.breached
    noisy = detector(0.42, 100).check()  # ratio 0.7, but on 100 events a group
    assert noisy is not None and noisy.value < 0.8
    assert noisy.bound is not None and noisy.bound > 0.8 and not noisy.breached


def test_small_groups_are_ignored_and_listed(event: Event) -> None:
    d = FairnessDetector(name="f", window=200, metric="demographic_parity", min_group_size=20)
    for i in range(60):
        d.observe(event(i, prediction=i % 2, segment={"group": "a" if i < 30 else "b"}))
    for i in range(60, 65):  # five events of group c, all positive
        d.observe(event(i, prediction=1, segment={"group": "c"}))
    d.observe(event(99, prediction=1, segment={"region": "eu"}))  # no group at all
    reading = d.check()
    assert reading is not None and reading.value == pytest.approx(0.0)
    assert reading.evidence["ignored_groups"] == {"c": 5}
    assert reading.evidence["missing_attribute"] == 1
    assert "c" in reading.evidence["groups"]  # still shown, just not judged


def test_no_reading_until_two_groups_are_big_enough(event: Event) -> None:
    d = FairnessDetector(name="f", window=100, min_group_size=10)
    for i in range(50):
        d.observe(event(i, prediction=1, segment={"group": "a"}))
    assert d.check() is None
    for i in range(50, 60):
        d.observe(event(i, prediction=0, segment={"group": "b"}))
    reading = d.check()
    assert reading is not None and reading.value == 0.0 and reading.breached


def test_equal_opportunity_counts_only_actual_positives(event: Event, label: Label) -> None:
    d = FairnessDetector(name="f", window=100, metric="equal_opportunity", min_group_size=5)
    for i in range(40):
        group = "a" if i < 20 else "b"
        # a: every actual positive is caught; b: half of them are missed
        d.observe(event(i, prediction=int(group == "a" or i % 2 == 0), segment={"group": group}))
        d.observe_label(label(f"r{i}", 1))
        d.observe(event(100 + i, prediction=1, segment={"group": group}))
        d.observe_label(label(f"r{100 + i}", 0))  # negatives do not enter the TPR
    d.observe_label(label("nobody", 1))
    reading = d.check()
    assert reading is not None and reading.value == pytest.approx(0.5)
    assert reading.evidence["groups"]["b"]["actual_positives"] == 20
    assert reading.evidence["labelled"] == 80


def test_positive_class_and_routes(event: Event) -> None:
    d = FairnessDetector(name="f", window=100, positive="approve", min_group_size=2)
    for i, (group, answer) in enumerate([("a", "approve"), ("a", "deny"), ("b", "deny")] * 2):
        d.observe(event(i, prediction=answer, segment={"group": group}))
    d.observe(event(9, prediction="approve", segment={"group": "b"}, route=Route.FALLBACK))
    reading = d.check()
    assert reading is not None
    assert reading.evidence["groups"]["a"]["positive_rate"] == 0.5
    assert reading.evidence["groups"]["b"]["positive_rate"] == 0.0  # fallback not counted
    assert reading.value == 0.0


def test_reset_forgets_pending_predictions(event: Event, label: Label) -> None:
    d = FairnessDetector(name="f", window=100, metric="equal_opportunity", min_group_size=1)
    d.observe(event(0, prediction=1, segment={"group": "a"}))
    d.observe(event(1, prediction=0, segment={"group": "b"}))
    d.reset()
    d.observe_label(label("r0", 1))  # its prediction was forgotten: nothing to join
    d.observe_label(label("r1", 1))
    d.observe(event(2, prediction=1, segment={"group": "a"}))
    assert d.check() is None


def test_ratio_bound_is_one_without_a_sure_positive() -> None:
    ratio, bound, high, low = impact_ratio({"a": Rate(0, 50), "b": Rate(0, 50)})
    assert (ratio, bound) == (1.0, 1.0)
    ratio, bound, high, low = impact_ratio({"a": Rate(5, 50), "b": Rate(0, 50)})
    assert ratio == 0.0 and 0.0 < bound <= 1.0 and (high, low) == ("a", "b")


def test_configured_from_the_sop_entry(
    registry: DetectorRegistry, model: ModelSop, reference: Reference
) -> None:
    spec = DetectorSpec(
        type="fairness",
        params={"attribute": "gender", "metric": "equal_opportunity", "min_group_size": 10},
    )
    d = registry.build(spec, model, reference)
    assert isinstance(d, FairnessDetector)
    assert (d.attribute, d.metric, d.min_group_size, d.threshold) == (
        "gender",
        "equal_opportunity",
        10,
        0.1,
    )
    assert registry.build(DetectorSpec(type="fairness"), model, reference).threshold == 0.8


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"metric": "parity"}, r"^metric: 'parity' must be one of"),
        ({"attribute": ""}, r"^attribute: '' must be"),
        ({"min_group_size": 0}, r"^min_group_size: 0 must be"),
        ({"min_group_size": 500}, r"^min_group_size: 500 must be"),
        ({"positive": None}, r"^positive: None must be"),
        ({"threshold": 1.5}, r"^threshold: 1\.5 must be"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FairnessDetector(name="f", window=200, **params)  # type: ignore[arg-type]
