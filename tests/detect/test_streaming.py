"""Confidence, latency and error-rate detectors: what each counts, skips and reports."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from ripcord.detect import ConfidenceDetector, ErrorRateDetector, LatencyDetector
from ripcord.detect.base import DetectorRegistry, Reference
from ripcord.events import InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop

Event = Callable[..., InferenceEvent]


def test_confidence_skips_missing_and_non_champion(event: Event) -> None:
    d = ConfidenceDetector(name="c", window=4, threshold=0.7, min_events=2)
    d.observe(event(0, confidence=0.9))
    d.observe(event(1, confidence=None))
    d.observe(event(2, confidence=0.1, route=Route.FALLBACK))
    assert d.check() is None  # one usable value, two needed
    d.observe(event(3, confidence=0.6))
    reading = d.check()
    assert reading is not None
    assert reading.value == pytest.approx(0.75)
    assert reading.window == 2
    assert reading.evidence["share_below_threshold"] == 0.5
    assert reading.direction == "below" and not reading.breached


def test_confidence_window_is_bounded_and_slides(event: Event) -> None:
    d = ConfidenceDetector(name="c", window=3, threshold=0.7)
    for i, c in enumerate([0.1, 0.1, 0.9, 0.9, 0.9]):
        d.observe(event(i, confidence=c))
    reading = d.check()
    assert reading is not None and reading.value == pytest.approx(0.9) and reading.window == 3


def test_a_tail_under_the_floor_fires_where_the_mean_holds(event: Event) -> None:
    """Four answers in five sure (0.95), one in five unsure (0.3), then one in three
    unsure: the mean stays over 0.7, the share under the floor does not stay under 0.2."""
    mean = ConfidenceDetector(name="c", window=300, threshold=0.7)
    share = ConfidenceDetector(name="c", window=300, threshold=0.2, floor=0.7)
    calm = [0.3 if i % 5 == 0 else 0.95 for i in range(300)]
    tail = [0.3 if i % 3 == 0 else 0.95 for i in range(300)]
    for i, c in enumerate(calm + tail):
        mean.observe(event(i, confidence=c))
        share.observe(event(i, confidence=c))
    by_mean, by_share = mean.check(), share.check()
    assert by_mean is not None and not by_mean.breached
    assert by_mean.value == pytest.approx(0.3 / 3 + 0.95 * 2 / 3)  # 0.733
    assert by_share is not None and by_share.metric == "share_under_floor"
    assert by_share.value == pytest.approx(1 / 3) and by_share.direction == "above"
    assert by_share.breached and by_share.past  # the Wilson lower bound is past 0.2 too
    assert by_share.evidence["under_floor"] == 100 and by_share.evidence["floor"] == 0.7


def test_the_floor_is_checked_and_its_share_limit_defaults_to_a_fifth(
    registry: DetectorRegistry, model: ModelSop, reference: Reference
) -> None:
    with pytest.raises(ValueError, match=r"^floor: 1.5"):
        ConfidenceDetector(name="c", window=100, threshold=0.2, floor=1.5)
    spec = DetectorSpec(type="confidence", params={"floor": 0.7})
    built = registry.build(spec, model, reference)
    assert isinstance(built, ConfidenceDetector) and (built.floor, built.threshold) == (0.7, 0.2)
    spec = DetectorSpec(type="confidence", threshold=0.1, params={"floor": 0.7})
    assert registry.build(spec, model, reference).threshold == 0.1


def test_rate_detectors_read_after_min_events_default(event: Event) -> None:
    d = ErrorRateDetector(name="e", window=100, threshold=0.1)
    assert d.min_events == 30
    for i in range(29):
        d.observe(event(i))
    assert d.check() is None
    d.observe(event(29))
    assert d.check() is not None
    assert ErrorRateDetector(name="e", window=10, threshold=0.1).min_events == 10


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (LatencyDetector, {"quantile": 1.5}, r"^quantile: 1\.5 must be in \(0, 1\)"),
        (LatencyDetector, {"quantile": 0}, r"^quantile: 0 must be in \(0, 1\)"),
        (LatencyDetector, {"quantile": "p95"}, r"^quantile: 'p95' must be a number"),
        (ConfidenceDetector, {"min_events": 0}, r"^min_events: 0 must be in \[1, 50\]"),
        (ErrorRateDetector, {"min_events": 51}, r"^min_events: 51 must be in \[1, 50\]"),
        (ErrorRateDetector, {"min_events": True}, r"^min_events: True must be an integer"),
    ],
)
def test_parameters_are_validated_by_name(
    cls: type[ConfidenceDetector], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        cls(name="d", window=50, threshold=0.5, **kwargs)  # type: ignore[arg-type]


def test_sla_threshold_is_required_when_the_sla_is_unset(
    registry: DetectorRegistry, reference: Reference
) -> None:
    with pytest.raises(ValueError, match=r"^threshold"):
        registry.build(DetectorSpec(type="latency"), ModelSop(owner="t"), reference)


def test_spec_threshold_overrides_the_sla(
    registry: DetectorRegistry, model: ModelSop, reference: Reference
) -> None:
    assert registry.build(DetectorSpec(type="latency"), model, reference).threshold == 100.0
    spec = DetectorSpec(type="latency", threshold=250)
    assert registry.build(spec, model, reference).threshold == 250.0


def test_latency_quantile_matches_numpy_and_names_the_metric(event: Event) -> None:
    rng = np.random.default_rng(11)
    values = rng.lognormal(3.0, 0.5, 100)
    d = LatencyDetector(name="l", window=100, threshold=50, quantile=0.99)
    for i, v in enumerate(values):
        d.observe(event(i, latency_ms=float(v)))
    reading = d.check()
    assert reading is not None
    assert reading.metric == "p99_latency_ms"
    # From a sketch: within its 1 % relative accuracy of the order statistic at rank q(n-1).
    exact = np.quantile(values, [0.99, 0.5], method="lower")
    assert reading.value == pytest.approx(float(exact[0]), rel=0.01)
    assert reading.evidence["p50_ms"] == pytest.approx(float(exact[1]), rel=0.01)
    assert set(reading.evidence) >= {"p50_ms", "p95_ms", "p99_ms", "max_ms"}


def test_latency_skips_requests_where_no_model_ran(event: Event) -> None:
    d = LatencyDetector(name="l", window=10, threshold=50, min_events=2)
    d.observe(event(0, latency_ms=100.0))
    d.observe(event(1, latency_ms=0.0, route=Route.KILLED))
    d.observe(event(2, latency_ms=0.0, route=Route.BLOCKED))
    d.observe(event(3, latency_ms=100.0, route=Route.FALLBACK))
    reading = d.check()
    assert reading is not None and reading.window == 2 and reading.value == 100.0


def test_error_rate_counts_errors_and_lists_the_top_messages(event: Event) -> None:
    d = ErrorRateDetector(name="e", window=10, threshold=0.2, min_events=1)
    errors = [None, "Timeout", None, "Timeout", "OOM", None, None, None, None, None]
    for i, error in enumerate(errors):
        d.observe(event(i, error=error))
    d.observe(event(99, error="blocked", route=Route.BLOCKED))  # the contract's business
    reading = d.check()
    assert reading is not None
    assert reading.value == pytest.approx(0.3)
    assert not reading.breached  # 3 errors in 10 is no sure sign of a rate over 0.2
    assert reading.evidence["top_errors"][0] == {"error": "Timeout", "count": 2}
