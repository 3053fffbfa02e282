"""Seeded traffic for detector tests: a stationary stream and the same stream gone wrong.

Helpers are handed to tests as fixtures (importing from a conftest is fragile). The shifted
stream moves every signal at once (confidence, latency, errors, contract breaks, accuracy,
predictions, feature `x1`, the request rate and feedback), so one stream drives the
contract suite for every family. Feedback: on calm traffic, clicks and a few thumbs-down
spread over many users; once shifted, clicks fall, thumbs-down rise, and most of them come
from two sources (bots).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import numpy as np
import pytest

from ripcord.detect import default_registry
from ripcord.detect.base import Detector, DetectorRegistry, Reading, Reference
from ripcord.events import FeedbackEvent, InferenceEvent, LabelEvent
from ripcord.sop.schema import ModelSop, Slas
from tests.detect import variants

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REFERENCE_SIZE = 500
SHIFTED_GAP_S = 10  # seconds between shifted events (1 when stationary): throughput collapses


def make_event(i: int = 0, **fields: Any) -> InferenceEvent:
    """One inference event with harmless defaults; `fields` override them."""
    values: dict[str, Any] = {
        "model": "m",
        "version": "1",
        "request_id": f"r{i}",
        "timestamp": T0 + timedelta(seconds=i),
        "latency_ms": 10.0,
    }
    values.update(fields)
    return InferenceEvent(**values)


def make_label(request_id: str, label: Any, i: int = 0) -> LabelEvent:
    return LabelEvent(model="m", request_id=request_id, label=label, timestamp=T0)


def make_feedback(request_id: str | None, score: float, source: str, i: int = 0) -> FeedbackEvent:
    return FeedbackEvent(
        model="m",
        request_id=request_id,
        score=score,
        source=source,
        timestamp=T0 + timedelta(seconds=i),
    )


#: users who send feedback on calm traffic, and the two sources that poison it once shifted
USERS, BOTS = 400, ("bot-1", "bot-2")


@dataclass(frozen=True)
class Traffic:
    events: tuple[InferenceEvent, ...]
    labels: tuple[LabelEvent, ...]  # labels[i] is the truth for events[i]
    feedback: tuple[FeedbackEvent, ...]  # feedback[i] is a user's verdict on events[i]


def _feedback(rng: np.random.Generator, n: int, start: int, shifted: bool) -> list[FeedbackEvent]:
    """Calm: a click (+1) on half the answers, a thumbs-down on 5 %, else seen (0), from 400
    users. Shifted: 60 % of feedback is a bot's thumbs-down; users click 5 %, dislike 70 %."""
    user = rng.integers(0, USERS, n)
    u = rng.random(n)
    bot = rng.random(n) < (0.7 if shifted else 0.0)
    click, down = (0.05, 0.5) if shifted else (0.6, 0.05)
    out = []
    for k in range(n):
        score = 1.0 if u[k] < click else -1.0 if u[k] < click + down else 0.0
        source = f"user-{user[k]}"
        if bot[k]:
            score, source = -1.0, BOTS[user[k] % 2]
        out.append(make_feedback(f"r{start + k}", score, source, start + k))
    return out


@cache
def traffic(
    seed: int, n: int, *, shifted: bool = False, start: int = 0, kind: str = "tabular"
) -> Traffic:
    """`n` events from a seeded generator; cached because the events are frozen. Events
    carry a protected group in `segment`; `kind` "text" or "shadow" turns the stream into an
    LLM app's replies or a shadowed model's (tests/detect/variants.py)."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(3.0 if shifted else 0.0, 1.0, n)
    x2 = rng.normal(5.0, 2.0, n)
    color = rng.choice(["red", "green", "blue"], p=[0.5, 0.3, 0.2], size=n)
    prediction = (rng.random(n) < (0.7 if shifted else 0.3)).astype(int)
    confidence = rng.beta(3, 3, n) if shifted else rng.beta(9, 2, n)
    latency = rng.lognormal(np.log(200.0 if shifted else 40.0), 0.3, n)
    error = rng.random(n) < (0.3 if shifted else 0.002)
    broken = rng.random(n) < (0.4 if shifted else 0.002)
    correct = rng.random(n) < (0.5 if shifted else 0.95)
    group = variants.groups(seed, prediction, shifted)  # own generator: draws above unchanged
    events, labels = [], []
    for k in range(n):
        i = start + k
        events.append(
            make_event(
                i,
                features={"x1": float(x1[k]), "x2": float(x2[k]), "color": str(color[k])},
                prediction=int(prediction[k]),
                confidence=float(confidence[k]),
                latency_ms=float(latency[k]),
                error="TimeoutError: upstream" if error[k] else None,
                violations=("income: -5 is not >= 0",) if broken[k] else (),
                segment={"group": group[k]},
                # shifted traffic also thins out: one request per 10 s instead of per second
                timestamp=T0 + timedelta(seconds=start + k * (SHIFTED_GAP_S if shifted else 1)),
            )
        )
        truth = int(prediction[k]) if correct[k] else 1 - int(prediction[k])
        labels.append(make_label(f"r{i}", truth, i))
    feedback = _feedback(rng, n, start, shifted)  # drawn last: earlier draws stay as they were
    stream = Traffic(tuple(events), tuple(labels), tuple(feedback))
    return stream if kind == "tabular" else variants.VARIANTS[kind](stream, seed, shifted)


def feed(detector: Detector, stream: Traffic) -> Iterator[Reading | None]:
    """Feed each event, then its label and its feedback; yield the reading after each step."""
    for event, label, feedback in zip(stream.events, stream.labels, stream.feedback, strict=True):
        detector.observe(event)
        detector.observe_label(label)
        detector.observe_feedback(feedback)
        yield detector.check()


@cache
def frozen_reference(kind: str = "tabular") -> Reference:
    """The model's baseline: 500 stationary events from a seed the tests do not replay."""
    reference = Reference(REFERENCE_SIZE)
    for event in traffic(1, REFERENCE_SIZE, kind=kind).events:
        reference.add(event.features, event.prediction)
    assert reference.frozen
    return reference


MODEL = ModelSop(
    owner="team",
    slas=Slas(
        min_accuracy=0.8,
        min_mean_confidence=0.7,
        p95_latency_ms=100.0,
        max_error_rate=0.05,
        min_click_through=0.52,
        max_false_positive_rate=0.2,
    ),
)


@pytest.fixture
def registry() -> DetectorRegistry:
    return default_registry()


@pytest.fixture
def model() -> ModelSop:
    return MODEL


@pytest.fixture
def reference() -> Reference:
    return frozen_reference()


@pytest.fixture
def stream() -> Callable[..., Traffic]:
    return traffic


@pytest.fixture
def run() -> Callable[[Detector, Traffic], list[Reading | None]]:
    return lambda detector, stream: list(feed(detector, stream))


@pytest.fixture
def event() -> Callable[..., InferenceEvent]:
    return make_event


@pytest.fixture
def label() -> Callable[..., LabelEvent]:
    return make_label


@pytest.fixture
def feedback() -> Callable[..., FeedbackEvent]:
    return make_feedback


@pytest.fixture
def references() -> Callable[[str], Reference]:
    """The frozen baseline of a kind of traffic (see `traffic`)."""
    return frozen_reference
