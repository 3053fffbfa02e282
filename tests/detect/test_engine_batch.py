"""`DetectionEngine.observe_batch` gives the signals of feeding the same events one by one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from ripcord.detect.base import Detector, DetectorRegistry, Signal
from ripcord.detect.engine import DetectionEngine
from ripcord.events import InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop, Slas, Sop

from .conftest import Traffic

DETECTORS = (
    DetectorSpec(type="confidence", window=100),
    DetectorSpec(type="accuracy", window=200),
    DetectorSpec(type="error_rate", window=200),
    DetectorSpec(type="latency", window=200),
    DetectorSpec(type="contract", window=200, threshold=0.05),
    DetectorSpec(type="prediction_drift", window=300, threshold=0.2),
    DetectorSpec(type="prediction_drift", name="confidence_drift", window=300,
                 params={"on": "confidence"}),
    DetectorSpec(type="feature_drift", window=300, threshold=0.25),
    DetectorSpec(type="page_hinkley", window=1),
)  # fmt: skip
SLAS = Slas(min_accuracy=0.8, min_mean_confidence=0.7, p95_latency_ms=100.0, max_error_rate=0.05)


def make_sop() -> Sop:
    model = ModelSop(owner="team", slas=SLAS, reference_size=500, detectors=DETECTORS)
    return Sop(models={"m": model, "other": model})


def mixed(stream: Callable[..., Traffic]) -> list[InferenceEvent]:
    """Stationary traffic, then a shift; two versions and an unknown model interleaved,
    with fallback and blocked routes sprinkled in, so runs and chunks cut everywhere."""
    events = [*stream(7, 1500).events, *stream(8, 1500, shifted=True, start=1500).events]
    rng = np.random.default_rng(3)
    out = []
    for event in events:
        roll = rng.random()
        update: dict[str, object] = {}
        if roll < 0.2:
            update["version"] = "2"
        elif roll < 0.25:
            update["model"] = "unknown"
        elif roll < 0.28:
            update["route"] = Route.FALLBACK
        elif roll < 0.3:
            update["route"] = Route.BLOCKED
        out.append(event.model_copy(update=update) if update else event)
    return out


def per_event(engine: DetectionEngine, events: Sequence[InferenceEvent]) -> list[Signal]:
    return [signal for event in events for signal in engine.observe(event)]


def batched(
    engine: DetectionEngine, events: Sequence[InferenceEvent], sizes: list[int]
) -> list[Signal]:
    signals, pos, k = [], 0, 0
    while pos < len(events):
        size = sizes[k % len(sizes)]
        signals += engine.observe_batch(events[pos : pos + size])
        pos, k = pos + size, k + 1
    return signals


@pytest.mark.parametrize(
    ("check_every", "sizes"),
    [(10, [500]), (10, [1, 7, 13, 250, 3]), (7, [64]), (3, [33]), (10, [10_000])],
)
def test_batches_raise_the_signals_of_single_events(
    registry: DetectorRegistry, stream: Callable[..., Traffic], check_every: int, sizes: list[int]
) -> None:
    events = mixed(stream)
    one = per_event(DetectionEngine(make_sop(), registry, check_every=check_every), events)
    many = batched(DetectionEngine(make_sop(), registry, check_every=check_every), events, sizes)
    assert one, "the shift must raise signals, or the comparison proves nothing"
    families = {s.family for s in one}
    assert {"confidence", "latency", "error_rate", "feature_drift", "prediction_drift"} <= families
    assert [(s.version, s.detector, s.at) for s in many] == [
        (s.version, s.detector, s.at) for s in one
    ]
    assert many == one  # readings and evidence too


def test_batch_leaves_the_same_readings(
    registry: DetectorRegistry, stream: Callable[..., Traffic]
) -> None:
    events = mixed(stream)[:2003]  # ends mid-chunk: the tail waits for the next check
    one, many = DetectionEngine(make_sop(), registry), DetectionEngine(make_sop(), registry)
    per_event(one, events)
    many.observe_batch(events)
    for version in ("1", "2"):
        assert dict(many.readings("m", version)) == dict(one.readings("m", version))
    assert many.references["m"].predictions == one.references["m"].predictions


def test_detector_default_batch_is_a_loop(
    registry: DetectorRegistry, stream: Callable[..., Traffic]
) -> None:
    seen: list[str] = []

    class Recorder(Detector):
        family = "recorder"

        def observe(self, event: InferenceEvent) -> None:
            seen.append(event.request_id)

        def check(self) -> None:
            return None

        def reset(self) -> None:
            seen.clear()

    events = stream(7, 25).events
    Recorder(name="r", window=1, threshold=0.0).observe_batch(events)
    assert seen == [e.request_id for e in events]


def test_windows_stay_bounded(registry: DetectorRegistry, stream: Callable[..., Traffic]) -> None:
    engine = DetectionEngine(make_sop(), registry)
    engine.observe_batch(stream(7, 1500).events)
    for detector in (u.all.detector for u in engine._watch("m", "1").units.values()):
        window = getattr(detector, "_values", None) or getattr(detector, "_window", None)
        if window is not None:
            assert len(window) <= detector.window
