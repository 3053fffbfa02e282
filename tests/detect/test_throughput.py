"""Throughput collapse: the request rate from event timestamps against the first windows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta

import numpy as np
import pytest

from ripcord.detect import ThroughputDetector
from ripcord.detect.base import DetectorRegistry, Reading, Reference
from ripcord.events import InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop

from .conftest import T0

Event = Callable[..., InferenceEvent]


def arrivals(gaps: Iterable[float], start: float = 0.0) -> list[float]:
    return list(start + np.cumsum(list(gaps)))


def feed(d: ThroughputDetector, event: Event, seconds: list[float]) -> list[Reading | None]:
    readings = []
    for i, s in enumerate(seconds):
        d.observe(event(i, timestamp=T0 + timedelta(seconds=s)))
        readings.append(d.check())
    return readings


def test_rate_is_measured_from_timestamps_against_the_first_window(event: Event) -> None:
    d = ThroughputDetector(name="t", window=100)
    times = arrivals([0.5] * 100)  # 2 events per second
    feed(d, event, times)
    assert d.baseline == pytest.approx(2.0)
    reading = feed(d, event, arrivals([5.0] * 100, start=times[-1]))[-1]  # now 0.2 per second
    assert reading is not None and reading.metric == "throughput_ratio"
    assert reading.value == pytest.approx(0.1) and reading.breached
    assert reading.evidence["events_per_s"] == pytest.approx(0.2)
    assert reading.evidence["baseline_events_per_s"] == pytest.approx(2.0)


def test_poisson_traffic_that_keeps_its_rate_never_pages(event: Event) -> None:
    rng = np.random.default_rng(12)
    d = ThroughputDetector(name="t", window=200)
    readings = feed(d, event, arrivals(rng.exponential(0.01, 20_000)))  # 100 per second
    taken = [r for r in readings if r is not None]
    assert len(taken) == 20_000 - 199 and not any(r.breached for r in taken)
    assert min(r.value for r in taken) > 0.6


def test_a_collapse_to_a_tenth_fires_within_half_a_window(event: Event) -> None:
    rng = np.random.default_rng(13)
    d = ThroughputDetector(name="t", window=200, baseline_windows=3)
    calm = arrivals(rng.exponential(0.01, 1_000))
    assert not any(r is not None and r.breached for r in feed(d, event, calm))
    after = feed(d, event, arrivals(rng.exponential(0.1, 200), start=calm[-1]))
    first = next(i for i, r in enumerate(after) if r is not None and r.breached)
    assert first < 100
    assert d.baseline == pytest.approx(599 / (calm[599] - calm[0]))


def test_a_fall_that_a_short_window_cannot_show_surely_does_not_page(event: Event) -> None:
    d = ThroughputDetector(name="t", window=100)
    times = arrivals([0.5] * 100)
    feed(d, event, times)
    reading = feed(d, event, arrivals([2.0] * 100, start=times[-1]))[-1]  # a quarter
    assert reading is not None and reading.value == pytest.approx(0.25)
    assert reading.bound is not None and reading.bound > 0.3 and not reading.breached


def test_a_quiet_hour_above_the_fraction_does_not_page(event: Event) -> None:
    d = ThroughputDetector(name="t", window=100)
    times = arrivals([1.0] * 100)
    feed(d, event, times)
    reading = feed(d, event, arrivals([2.0] * 300, start=times[-1]))[-1]  # half the rate
    assert reading is not None and reading.value == pytest.approx(0.5) and not reading.breached


def test_no_time_passing_gives_no_rate_and_shadow_copies_do_not_count(event: Event) -> None:
    d = ThroughputDetector(name="t", window=10)
    for i in range(30):
        d.observe(event(i, timestamp=T0))  # one micro-batch stamped at once
    assert d.baseline is None and d.check() is None
    for i in range(30):
        d.observe(event(i, timestamp=T0 + timedelta(seconds=i + 1)))
        d.observe(event(i, timestamp=T0 + timedelta(seconds=i + 1), route=Route.SHADOW))
    reading = d.check()
    assert reading is not None and reading.evidence["events_per_s"] == pytest.approx(1.0)


def test_reset_forgets_the_baseline(event: Event) -> None:
    d = ThroughputDetector(name="t", window=10)
    feed(d, event, arrivals([1.0] * 20))
    assert d.baseline is not None
    d.reset()
    assert d.baseline is None and d.check() is None


@pytest.mark.parametrize(
    ("window", "threshold", "params", "message"),
    [
        (200, 1.0, {}, r"^threshold: 1\.0 must be in \(0, 1\)"),
        (200, None, {"baseline_windows": 0}, r"^baseline_windows: 0 must be in \[1, 1000\]"),
        (1, None, {}, r"^window: 1 must be >= 2"),
    ],
)
def test_parameters_are_refused_by_name(
    registry: DetectorRegistry,
    model: ModelSop,
    reference: Reference,
    window: int,
    threshold: float | None,
    params: dict[str, object],
    message: str,
) -> None:
    spec = DetectorSpec(type="throughput", window=window, threshold=threshold, params=params)
    with pytest.raises(ValueError, match=message):
        registry.build(spec, model, reference)


def steady(d: ThroughputDetector, event: Event, count: int, lag_s: float = 0.0) -> float:
    """`count` events at 10 per second, the clock ticking once a second `lag_s` ahead of
    their timestamps; the last event's second."""
    for i in range(count):
        d.observe(event(i, timestamp=T0 + timedelta(seconds=i / 10)))
        if i % 10 == 9:
            d.tick(T0 + timedelta(seconds=i / 10 + lag_s))
    return (count - 1) / 10


def silence(d: ThroughputDetector, last: float, seconds: int, lag_s: float = 0.0) -> list[float]:
    """Tick once a second with no event; the seconds of silence at which a reading breached."""
    breached = []
    for s in range(1, seconds + 1):
        d.tick(T0 + timedelta(seconds=last + s + lag_s))
        reading = d.check()
        if reading is not None and reading.breached:
            breached.append(reading.evidence["silent_seconds"])
    return breached


def test_traffic_that_stops_dead_reads_as_a_collapse_from_the_clock(event: Event) -> None:
    d = ThroughputDetector(name="t", window=200)
    last = steady(d, event, 1_000)  # 10 per second; the window spans 19.9 s
    first = silence(d, last, 120)
    assert first, "a minute of silence after 10 events per second must read as a collapse"
    # the rate over the window plus the silence, and its 99 % bound, under 30 % of 10/s
    assert 45 <= first[0] <= 75
    reading = d.check()
    assert reading is not None and reading.evidence["silent_seconds"] == pytest.approx(120.0)


def test_a_quiet_spell_shorter_than_the_window_is_not_a_collapse(event: Event) -> None:
    d = ThroughputDetector(name="t", window=200)
    last = steady(d, event, 1_000)
    assert silence(d, last, 30) == []


def test_timestamps_that_trail_the_clock_are_not_silence(event: Event) -> None:
    """A client clock an hour behind (or a steady replay): the lag is measured, not read as
    an hour without traffic; a real stop after it still is."""
    d = ThroughputDetector(name="t", window=200)
    last = steady(d, event, 1_000, lag_s=3_600)
    reading = d.check()
    assert reading is not None and not reading.breached
    assert reading.evidence["silent_seconds"] < 1.0
    assert silence(d, last, 120, lag_s=3_600)


def test_without_ticks_and_after_reset_there_is_no_silence(event: Event) -> None:
    d = ThroughputDetector(name="t", window=200)
    steady(d, event, 1_000)
    d.reset()
    d.tick(T0 + timedelta(hours=1))  # no event since the reset: nothing to measure
    assert d.check() is None
    for i in range(400):
        d.observe(event(i, timestamp=T0 + timedelta(seconds=i / 10)))
    reading = d.check()
    assert reading is not None and reading.evidence["silent_seconds"] == 0.0
