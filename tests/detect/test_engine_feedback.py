"""`DetectionEngine.observe_feedback`: feedback reaches the detectors that read it, on every
watched version of its model, and is checked every `check_every` feedback events."""

from __future__ import annotations

from collections.abc import Callable

from ripcord.detect.base import DetectorRegistry
from ripcord.detect.engine import DetectionEngine
from ripcord.events import FeedbackEvent
from ripcord.sop.schema import DetectorSpec, ModelSop, Slas, Sop

from .conftest import Traffic

DETECTORS = (
    DetectorSpec(type="confidence", window=100),
    DetectorSpec(type="feedback_spike", window=100),
    DetectorSpec(type="business_rate", window=100),
)


def make_engine(registry: DetectorRegistry) -> DetectionEngine:
    slas = Slas(min_mean_confidence=0.7, min_click_through=0.3)
    model = ModelSop(owner="team", slas=slas, reference_size=100, detectors=DETECTORS)
    return DetectionEngine(Sop(models={"m": model}), registry, check_every=10)


def test_feedback_signals_on_the_version_that_served_the_requests(
    registry: DetectorRegistry,
    stream: Callable[..., Traffic],
    feedback: Callable[..., FeedbackEvent],
) -> None:
    engine = make_engine(registry)
    calm = stream(2, 400).events
    for event in calm[:200]:
        assert engine.observe(event) == []
    for event in calm[200:]:  # v2 goes live and serves r200..r399
        assert engine.observe(event.model_copy(update={"version": "2"})) == []
    signals = []
    for i in range(200, 400):  # v2's answers are disliked and never clicked
        signals += [(i, s) for s in engine.observe_feedback(feedback(f"r{i}", -1.0, f"u{i}", i))]
    fired = {(s.version, s.family) for _, s in signals}
    assert fired == {("2", "feedback_spike"), ("2", "business_rate")}  # v1 is not blamed
    assert all((i - 200 + 1) % 10 == 0 for i, _ in signals)  # checked every 10th feedback
    assert all(s.at == feedback("r", -1.0, "u", i).timestamp for i, s in signals)
    for version in ("1", "2"):
        watch = engine._watches[("m", version)]
        assert watch.feedback == 200  # offered to every watched version of the model
        assert set(watch.feedback_readers) == {"feedback_spike", "business_rate"}


def test_a_lasting_spike_signals_once(
    registry: DetectorRegistry,
    stream: Callable[..., Traffic],
    feedback: Callable[..., FeedbackEvent],
) -> None:
    engine = make_engine(registry)
    for event in stream(2, 300).events:
        engine.observe(event)
    signals = [
        s
        for i in range(300)
        for s in engine.observe_feedback(feedback(None, -1.0, f"u{i}", i))
        if s.family == "feedback_spike"
    ]
    assert len(signals) == 1
    assert signals[0].reading.evidence["thumbs_down_rate"] == 1.0


def test_feedback_for_a_model_not_watched_is_ignored(
    registry: DetectorRegistry, feedback: Callable[..., FeedbackEvent]
) -> None:
    engine = make_engine(registry)
    for i in range(50):  # nothing served yet: no version to judge
        assert engine.observe_feedback(feedback(None, -1.0, "u", i)) == []
    other = feedback(None, -1.0, "u").model_copy(update={"model": "other"})
    assert engine.observe_feedback(other) == []
