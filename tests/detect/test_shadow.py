"""Shadow disagreement: pairs by request id in either order, bounded, labels or numbers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ripcord.detect import ShadowDisagreementDetector
from ripcord.detect.base import DetectorRegistry, Reference
from ripcord.events import InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop

Event = Callable[..., InferenceEvent]


def champion(event: Event, i: int, prediction: object, **fields: object) -> InferenceEvent:
    return event(i, prediction=prediction, **fields)


def shadow(event: Event, i: int, prediction: object, **fields: object) -> InferenceEvent:
    fields.setdefault("request_id", f"r{i}:shadow")
    return event(i, prediction=prediction, route=Route.SHADOW, version="2", **fields)


def test_pairs_in_either_order_and_reads_the_disagreement_rate(event: Event) -> None:
    d = ShadowDisagreementDetector(name="s", window=100, min_pairs=4)
    answers = [("cat", "cat"), ("dog", "cat"), ("cat", "cat"), ("1", 1.0)]
    for i, (served, copied) in enumerate(answers):
        first, second = champion(event, i, served), shadow(event, i, copied)
        for e in (first, second) if i % 2 else (second, first):  # shadow first half the time
            d.observe(e)
    reading = d.check()
    assert reading is not None and reading.metric == "disagreement_rate"
    assert reading.value == pytest.approx(0.25)  # "1" and 1.0 are one class
    assert reading.evidence["top_changes"] == {"dog -> cat": 1}
    assert reading.evidence["pending"] == 0 and reading.window == 4


def test_a_sure_disagreement_breaches(
    registry: DetectorRegistry, model: ModelSop, reference: Reference, event: Event
) -> None:
    d = registry.build(DetectorSpec(type="shadow_disagreement", window=200), model, reference)
    assert d.threshold == 0.1
    for i in range(200):
        d.observe(champion(event, i, 1))
        d.observe(shadow(event, i, 0 if i % 4 == 0 else 1))  # 25 % disagree
    reading = d.check()
    assert reading is not None and reading.value == pytest.approx(0.25) and reading.breached


def test_numeric_mean_absolute_difference_needs_a_threshold(event: Event) -> None:
    with pytest.raises(ValueError, match=r"^threshold: None needs a value with compare numeric"):
        ShadowDisagreementDetector(name="s", window=10, compare="numeric")
    d = ShadowDisagreementDetector(name="s", window=10, compare="numeric", threshold=5.0)
    for i, (served, copied) in enumerate([(100.0, 104.0), (50, 40), (10, 10), (7, "n/a")]):
        d.observe(champion(event, i, served))
        d.observe(shadow(event, i, copied))
    d.min_pairs = 3
    reading = d.check()
    assert reading is not None and reading.metric == "mean_abs_difference"
    assert reading.value == pytest.approx(14 / 3)
    assert reading.evidence["max_abs_difference"] == 10.0
    assert reading.evidence["incomparable"] == 1


def test_errors_and_other_routes_are_not_compared(event: Event) -> None:
    d = ShadowDisagreementDetector(name="s", window=10, min_pairs=1)
    d.observe(champion(event, 0, 1))
    d.observe(shadow(event, 0, None, error="ValueError: bad"))
    d.observe(champion(event, 1, 1, route=Route.FALLBACK))  # not the serving version
    d.observe(shadow(event, 1, 0))
    assert d.check() is None
    d.observe(champion(event, 2, 1))
    d.observe(shadow(event, 2, 1))
    reading = d.check()
    assert reading is not None and reading.value == 0.0
    assert reading.evidence["shadow_errors"] == 1 and reading.evidence["pending"] == 1


def test_unpaired_answers_are_bounded_and_counted(event: Event) -> None:
    d = ShadowDisagreementDetector(name="s", window=10, pending_limit=3, min_pairs=1)
    for i in range(5):
        d.observe(champion(event, i, 1))  # no shadow copy ever comes for these
    d.observe(shadow(event, 0, 0))  # r0 was dropped: waits on its own
    d.observe(champion(event, 9, 1))
    d.observe(shadow(event, 9, 0))
    reading = d.check()
    assert reading is not None and reading.window == 1 and reading.value == 1.0
    # r0, r1, r2, r3 were pushed out, oldest first; r4 and the lone shadow of r0 still wait
    assert reading.evidence["dropped_unpaired"] == 4
    assert reading.evidence["pending"] == 2


def test_suffix_parameter_and_same_id_shadows(event: Event) -> None:
    d = ShadowDisagreementDetector(name="s", window=10, shadow_suffix="", min_pairs=1)
    d.observe(champion(event, 0, "a"))
    d.observe(shadow(event, 0, "b", request_id="r0"))
    reading = d.check()
    assert reading is not None and reading.value == 1.0
    d.reset()
    assert d.check() is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"compare": "text"}, r"^compare: 'text' must be one of"),
        ({"threshold": 2.0}, r"^threshold: 2\.0 must be in"),
        ({"pending_limit": 0}, r"^pending_limit: 0 must be"),
        ({"min_pairs": 11}, r"^min_pairs: 11 must be"),
        ({"shadow_suffix": 1}, r"^shadow_suffix: 1 must be"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ShadowDisagreementDetector(name="s", window=10, **params)  # type: ignore[arg-type]
