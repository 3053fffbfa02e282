"""Seeded traffic for detector tests: a stationary stream and the same stream gone wrong.

Helpers are handed to tests as fixtures (importing from a conftest is fragile). The shifted
stream moves every signal at once (confidence, latency, errors, contract breaks, accuracy,
predictions and feature `x1`), so one stream drives the contract suite for every family.
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
from ripcord.events import InferenceEvent, LabelEvent
from ripcord.sop.schema import ModelSop, Slas

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REFERENCE_SIZE = 500


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


@dataclass(frozen=True)
class Traffic:
    events: tuple[InferenceEvent, ...]
    labels: tuple[LabelEvent, ...]  # labels[i] is the truth for events[i]


@cache
def traffic(seed: int, n: int, *, shifted: bool = False, start: int = 0) -> Traffic:
    """`n` events from a seeded generator; cached because the events are frozen."""
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
            )
        )
        truth = int(prediction[k]) if correct[k] else 1 - int(prediction[k])
        labels.append(make_label(f"r{i}", truth, i))
    return Traffic(tuple(events), tuple(labels))


def feed(detector: Detector, stream: Traffic) -> Iterator[Reading | None]:
    """Feed each event then its label; yield the reading after each step."""
    for event, label in zip(stream.events, stream.labels, strict=True):
        detector.observe(event)
        detector.observe_label(label)
        yield detector.check()


@cache
def frozen_reference() -> Reference:
    """The model's baseline: 500 stationary events from a seed the tests do not replay."""
    reference = Reference(REFERENCE_SIZE)
    for event in traffic(1, REFERENCE_SIZE).events:
        reference.add(event.features, event.prediction)
    assert reference.frozen
    return reference


MODEL = ModelSop(
    owner="team",
    slas=Slas(min_accuracy=0.8, min_mean_confidence=0.7, p95_latency_ms=100.0, max_error_rate=0.05),
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
