"""CUSUM and Page-Hinkley: seeded alarm positions, quiet stationary streams, the delay on a
0.5 SD shift, what each `on` reads, the evidence, the latch and parameter errors."""

from __future__ import annotations

from collections.abc import Callable
from statistics import median

import numpy as np
import pytest

from ripcord.detect import CusumDetector, PageHinkleyDetector, default_registry
from ripcord.detect.base import DetectorRegistry, Reference
from ripcord.detect.changepoint import RECOVERY, ChangePointDetector, arl0, tail_factor
from ripcord.detect.engine import DetectionEngine
from ripcord.events import InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop, Sop
from ripcord.sop.severity import Severity, SeverityPolicy

Event = Callable[..., InferenceEvent]
CLASSES = [CusumDetector, PageHinkleyDetector]
CHANGE = 2000


def make(cls: type[ChangePointDetector], **params: object) -> ChangePointDetector:
    return cls(name=cls.family, window=200, threshold=cls.default_h, **params)  # type: ignore[arg-type]


def shifted(seed: int, shift: float = 0.5, pre: int = CHANGE, post: int = 1000) -> list[float]:
    """`pre` N(0, 1) values, then `post` values whose mean moved by `shift`."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, pre), rng.normal(shift, 1, post)]).tolist()


def first_alarm(detector: ChangePointDetector, values: list[float]) -> int | None:
    return next((i for i, v in enumerate(values) if detector.update(v)), None)


# Regression: exact positions on seeded streams (value index of the alarm, estimated change
# point). The true change is at 2000; Page's estimate is the last time the statistic was 0.
@pytest.mark.parametrize(
    ("cls", "seed", "shift", "alarm", "change"),
    [
        (CusumDetector, 11, 0.5, 2122, 1996),
        (CusumDetector, 12, 0.5, 2080, 2012),
        (CusumDetector, 11, -0.5, 2082, 2002),
        (PageHinkleyDetector, 11, 0.5, 2119, 1937),
        (PageHinkleyDetector, 12, 0.5, 2080, 2012),
        (PageHinkleyDetector, 11, -0.5, 2082, 2002),
    ],
)
def test_seeded_alarm_positions(
    cls: type[ChangePointDetector], seed: int, shift: float, alarm: int, change: int
) -> None:
    detector = make(cls)
    assert first_alarm(detector, shifted(seed, shift)) == alarm
    reading = detector.check()
    assert reading is not None and reading.breached
    assert reading.evidence["alarm_index"] == alarm
    assert reading.evidence["change_index"] == change
    assert reading.evidence["side"] == ("up" if shift > 0 else "down")


@pytest.mark.parametrize("cls", CLASSES)
def test_no_alarm_on_100k_stationary_events_at_defaults(cls: type[ChangePointDetector]) -> None:
    detector = make(cls)
    values = np.random.default_rng(0).normal(0, 1, 100_000).tolist()
    assert first_alarm(detector, values) is None
    reading = detector.check()
    assert reading is not None and not reading.breached and reading.window < 1000


# Measured over 1,000 seeds (benchmarks/stream_delay.py --seeds 1000 --no-river): median delay
# 97 events for cusum and 82.5 for page_hinkley, 95th percentile 199 and 163. The bounds leave
# room for the spread of 20 seeds.
@pytest.mark.parametrize(
    ("cls", "median_bound"), [(CusumDetector, 120), (PageHinkleyDetector, 100)]
)
def test_half_sd_shift_is_detected_within_the_stated_delay(
    cls: type[ChangePointDetector], median_bound: int
) -> None:
    delays = []
    for seed in range(100, 120):
        alarm = first_alarm(make(cls), shifted(seed, post=600))
        assert alarm is not None and alarm >= CHANGE  # detected, and not before the change
        delays.append(alarm - CHANGE + 1)
    assert median(delays) <= median_bound
    assert max(delays) <= 300


@pytest.mark.parametrize("cls", CLASSES)
def test_evidence_estimates_the_shift_and_keeps_refining_after_the_alarm(
    cls: type[ChangePointDetector],
) -> None:
    detector = make(cls)
    values = shifted(3, shift=1.0, post=3000)
    alarm = first_alarm(detector, values)
    assert alarm is not None and CHANGE <= alarm < CHANGE + 60
    for v in values[alarm + 1 :]:
        assert detector.update(v)
    reading = detector.check()
    assert reading is not None and reading.breached
    evidence = reading.evidence
    assert evidence["in_control_mean"] == pytest.approx(0.0, abs=0.1)
    assert evidence["in_control_sd"] == pytest.approx(1.0, abs=0.1)
    assert abs(evidence["change_index"] - CHANGE) <= 20
    assert evidence["shift_sd"] == pytest.approx(1.0, abs=0.1)  # over ~3,000 shifted values
    assert evidence["events_since_change"] == len(values) - evidence["change_index"]
    assert reading.window == evidence["events_since_change"]


@pytest.mark.parametrize("cls", CLASSES)
def test_breach_is_latched_until_reset(cls: type[ChangePointDetector]) -> None:
    detector = make(cls, warmup=100)
    rng = np.random.default_rng(5)
    assert first_alarm(detector, rng.normal(0, 1, 100).tolist() + [3.0] * 30) is not None
    peak = detector.check()
    assert peak is not None and peak.breached
    for v in rng.normal(-1, 1, 500).tolist():  # back to normal, and below it
        assert detector.update(v)
    after = detector.check()
    assert after is not None and after.breached and after.value == peak.value
    assert after.evidence["statistic"] == 0.0  # the live statistic did fall back
    detector.reset()
    assert detector.check() is None


@pytest.mark.parametrize("cls", CLASSES)
def test_one_sided_detectors_ignore_the_other_direction(cls: type[ChangePointDetector]) -> None:
    assert first_alarm(make(cls, side="up"), shifted(11, shift=-1.0)) is None
    assert first_alarm(make(cls, side="down"), shifted(11, shift=1.0)) is None
    assert first_alarm(make(cls, side="down"), shifted(11, shift=-1.0)) is not None


@pytest.mark.parametrize(
    ("on", "side"),
    [("confidence", "down"), ("latency_ms", "up"), ("error", "up"), ("feature:x1", "up")],
)
@pytest.mark.parametrize("family", ["cusum", "page_hinkley"])
def test_each_value_fires_on_its_shift_in_seeded_traffic(
    family: str,
    on: str,
    side: str,
    registry: DetectorRegistry,
    model: ModelSop,
    reference: Reference,
    stream: Callable[..., object],
    run: Callable[..., list[object]],
) -> None:
    spec = DetectorSpec(type=family, params={"on": on, "warmup": 300})
    detector = registry.build(spec, model, reference)
    calm = run(detector, stream(2, 600))
    assert not [r for r in calm if r is not None and r.breached]  # type: ignore[attr-defined]
    after = run(detector, stream(5, 100, shifted=True, start=600))
    alarms = [i for i, r in enumerate(after) if r.breached]  # type: ignore[attr-defined]
    assert alarms and alarms[0] < 40
    evidence = after[-1].evidence  # type: ignore[attr-defined]
    assert evidence["side"] == side and evidence["on"] == on
    assert 595 <= evidence["change_index"] <= 610


def test_observe_skips_what_the_value_cannot_be_read_from(event: Event) -> None:
    detector = make(CusumDetector, on="feature:x", warmup=30)
    detector.observe(event(0, features={"x": "text"}))
    detector.observe(event(1, features={"x": True}))
    detector.observe(event(2, features={}))
    detector.observe(event(3, features={"x": 1.0}, route=Route.FALLBACK))
    detector.observe(event(4, features={"x": float("nan")}))
    assert detector.check() is None
    for i in range(30):
        detector.observe(event(i, features={"x": i % 3}))
    reading = detector.check()
    assert reading is not None and reading.evidence["values_seen"] == 30
    conf = make(CusumDetector, warmup=30)
    conf.observe(event(0, confidence=None))
    assert conf.check() is None and conf.update(0.5) is False


@pytest.mark.parametrize("cls", CLASSES)
def test_observe_and_the_fast_path_are_the_same_code(
    cls: type[ChangePointDetector], stream: Callable[..., object]
) -> None:
    by_event, by_value = (
        make(cls, on="latency_ms", warmup=100),
        make(cls, on="latency_ms", warmup=100),
    )
    for traffic in (stream(2, 300), stream(5, 100, shifted=True, start=300)):
        for e in traffic.events:  # type: ignore[attr-defined]
            by_event.observe(e)
            by_value.update(e.latency_ms)
            assert by_event.check() == by_value.check()
    last = by_event.check()
    assert last is not None and last.breached


def test_warm_up_is_robust_to_an_outlier() -> None:
    detector = make(CusumDetector, warmup=500)
    values = np.random.default_rng(9).normal(100, 10, 500).tolist()
    values[7] = 1e9  # one stuck request in the warm-up
    for v in values:
        detector.update(v)
    reading = detector.check()
    assert reading is not None
    assert reading.evidence["in_control_mean"] == pytest.approx(100, abs=2)
    assert reading.evidence["in_control_sd"] == pytest.approx(10, abs=1)
    assert not detector.update(1e9)  # and one later outlier weighs at most Z_CLIP - k


def test_error_stream_without_errors_in_warm_up_fires_on_a_burst_only() -> None:
    detector = make(CusumDetector, on="error", warmup=200)
    for _ in range(200):
        detector.update(0.0)
    stray = [1.0] + [0.0] * 500 + [1.0, 0.0, 0.0, 1.0] + [0.0] * 500
    assert first_alarm(detector, stray) is None
    burst = [1.0, 0.0, 0.0, 0.0, 0.0] * 20  # 20 % errors
    assert first_alarm(detector, burst) is not None


def test_tail_factor_is_one_for_gaussian_values_and_lower_on_a_long_tail() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1, 2000)
    z = (z - z.mean()) / z.std(ddof=1)
    assert tail_factor(z, 0.25) == pytest.approx(1.0, abs=0.05)
    errors = (rng.random(2000) < 0.05).astype(float)
    ze = (errors - errors.mean()) / errors.std(ddof=1)
    assert tail_factor(ze, 0.25) == pytest.approx(0.65, abs=0.05)  # θ ≈ 0.32 against 2k = 0.5
    assert tail_factor(-ze, 0.25) == 1.0  # nothing in the low tail exceeds k


def test_arl0_matches_the_published_cusum_table() -> None:
    # Montgomery, Introduction to Statistical Quality Control, table 9.3 (two-sided, k=0.5)
    assert arl0(0.5, 4.0) == pytest.approx(168, rel=0.02)
    assert arl0(0.5, 5.0) == pytest.approx(465, rel=0.02)
    assert arl0(0.5, 4.0, "up") == pytest.approx(2 * arl0(0.5, 4.0))
    assert arl0(0.25, PageHinkleyDetector.default_h) > 1e6


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"k": -1}, r"^k: -1 must be > 0$"),
        ({"k": 0}, r"^k: 0 must be > 0$"),
        ({"k": "big"}, r"^k: 'big' must be a number$"),
        ({"k": float("inf")}, r"^k: inf must be > 0$"),
        ({"side": "left"}, r"^side: 'left' must be one of both, up, down$"),
        ({"warmup": 10}, r"^warmup: 10 must be >= 30$"),
        ({"warmup": 50.5}, r"^warmup: 50\.5 must be an integer$"),
        ({"on": "accuracy"}, r"^on: 'accuracy' must be one of confidence, latency_ms, error"),
        ({"on": "feature:"}, r"^on: 'feature:' must be one of .*feature:<name>$"),
    ],
)
@pytest.mark.parametrize("family", ["cusum", "page_hinkley"])
def test_bad_parameters_are_refused_naming_them(
    family: str,
    params: dict[str, object],
    message: str,
    registry: DetectorRegistry,
    model: ModelSop,
    reference: Reference,
) -> None:
    with pytest.raises(ValueError, match=message):
        registry.build(DetectorSpec(type=family, params=params), model, reference)


@pytest.mark.parametrize("cls", CLASSES)
def test_threshold_defaults_to_h_and_the_sop_threshold_overrides_it(
    cls: type[ChangePointDetector],
    registry: DetectorRegistry,
    model: ModelSop,
    reference: Reference,
) -> None:
    built = registry.build(DetectorSpec(type=cls.family), model, reference)
    assert isinstance(built, cls) and built.h == cls.default_h
    built = registry.build(DetectorSpec(type=cls.family, threshold=12.0), model, reference)
    assert isinstance(built, cls) and built.h == 12.0
    with pytest.raises(ValueError, match=r"^threshold: 0\.0 must be > 0$"):
        registry.build(DetectorSpec(type=cls.family, threshold=0.0), model, reference)


def test_engine_signals_once_and_policy_says_sev3(event: Event) -> None:
    spec = DetectorSpec(type="cusum", params={"on": "latency_ms", "warmup": 100})
    sop = Sop(models={"m": ModelSop(owner="team", detectors=(spec,))})
    engine = DetectionEngine(sop, default_registry(), check_every=1)
    rng = np.random.default_rng(4)
    latencies = rng.normal(40, 4, 300).tolist() + rng.normal(50, 4, 300).tolist()
    signals = [s for i, ms in enumerate(latencies) for s in engine.observe(event(i, latency_ms=ms))]
    assert len(signals) == 1  # latched and edge-triggered: one signal for one change
    assert signals[0].family == "cusum" and signals[0].reading.evidence["side"] == "up"
    assert SeverityPolicy().classify("cusum", signals[0].reading.value).severity is Severity.SEV3


@pytest.mark.parametrize("family", [CusumDetector, PageHinkleyDetector])
def test_a_latch_the_traffic_refutes_is_released_and_the_next_change_is_caught(
    family: type[ChangePointDetector],
) -> None:
    rng = np.random.default_rng(11)
    detector = family(name="cp", window=1, threshold=family.default_h, warmup=300)
    for x in rng.normal(0.0, 1.0, 1000):
        assert not detector.update(float(x))
    burst = [detector.update(6.0) for _ in range(20)]  # a short glitch: a false alarm
    assert burst[-1]
    after = [detector.update(float(x)) for x in rng.normal(0.0, 1.0, RECOVERY + 100)]
    released_at = after.index(False)
    assert RECOVERY - 20 <= released_at <= RECOVERY + 100  # the burst's tail counts too
    assert not any(after[released_at:])
    reading = detector.check()
    assert reading is not None and not reading.breached
    shifted = [detector.update(float(x)) for x in rng.normal(1.0, 1.0, 400)]
    assert any(shifted), "the real change after the false alarm was missed"


def test_a_lasting_shift_stays_latched() -> None:
    rng = np.random.default_rng(12)
    detector = CusumDetector(name="cp", window=1, threshold=28.0, warmup=300)
    for x in rng.normal(0.0, 1.0, 600):
        detector.update(float(x))
    states = [detector.update(float(x)) for x in rng.normal(1.0, 1.0, 3000)]
    first = states.index(True)
    assert all(states[first:])  # one alarm, held while the shift lasts
