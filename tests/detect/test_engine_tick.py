"""The engine's clock tick: traffic that stops dead signals, for serving versions only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ripcord.detect import default_registry
from ripcord.detect.engine import DetectionEngine
from ripcord.events import InferenceEvent
from ripcord.sop.schema import DetectorSpec, ModelSop, Slas, Sop

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def engine() -> DetectionEngine:
    detectors = (
        DetectorSpec(type="throughput", window=200),
        DetectorSpec(type="error_rate", window=100),
    )
    model = ModelSop(owner="team", slas=Slas(max_error_rate=0.05), detectors=detectors)
    return DetectionEngine(Sop(models={"m": model}), default_registry())


def traffic(e: DetectionEngine, version: str, n: int) -> None:
    """`n` events at 10 per second, the engine ticked once a second as the service does."""
    for start in range(0, n, 10):
        batch = [
            InferenceEvent(
                model="m",
                version=version,
                request_id=f"{version}-{k}",
                timestamp=T0 + timedelta(seconds=k / 10),
                latency_ms=5.0,
            )
            for k in range(start, start + 10)
        ]
        assert e.observe_batch(batch) == []
        assert e.tick(batch[-1].timestamp, [("m", version)]) == []


def test_silence_of_a_serving_version_signals_once_as_a_throughput_collapse() -> None:
    e = engine()
    traffic(e, "1", 1_000)
    last = T0 + timedelta(seconds=99.9)
    fired = [
        (s, signal)
        for s in range(1, 181)
        for signal in e.tick(last + timedelta(seconds=s), [("m", "1")])
    ]
    assert len(fired) == 1, "edge-triggered: one signal however long the silence"
    seconds, signal = fired[0]
    assert signal.family == "throughput" and signal.version == "1"
    assert 45 <= seconds <= 75 and signal.at == last + timedelta(seconds=seconds)
    assert signal.reading.evidence["silent_seconds"] == seconds


def test_a_version_not_serving_is_not_ticked() -> None:
    """After a rollback the old version gets no traffic by design: no silence signal."""
    e = engine()
    traffic(e, "1", 1_000)
    last = T0 + timedelta(seconds=99.9)
    assert not [s for t in range(1, 181) for s in e.tick(last + timedelta(seconds=t), [])]
    assert e.tick(last + timedelta(seconds=200), [("m", "2")]) == []  # never seen: no state
