"""Contract detector: breaks on any route, counted per field, 5 % by default."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ripcord.detect import ContractDetector
from ripcord.detect.base import DetectorRegistry, Reference
from ripcord.detect.contract import violated_field
from ripcord.events import InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop

Event = Callable[..., InferenceEvent]


def test_threshold_defaults_to_five_percent_without_any_sla(
    registry: DetectorRegistry, reference: Reference
) -> None:
    detector = registry.build(DetectorSpec(type="contract"), ModelSop(owner="t"), reference)
    assert detector.threshold == 0.05
    assert (
        ContractDetector.threshold_for(DetectorSpec(type="contract"), ModelSop(owner="t")) == 0.05
    )
    spec = DetectorSpec(type="contract", threshold=0.2)
    assert registry.build(spec, ModelSop(owner="t"), reference).threshold == 0.2


def test_breaks_on_every_route_are_counted_per_field(event: Event) -> None:
    d = ContractDetector(name="c", window=10, threshold=0.05, min_events=10)
    d.observe(event(0, violations=("income: -5 is not >= 0", "age: 'x' is not an int")))
    d.observe(event(1, violations=("income: None is required",), route=Route.FALLBACK))
    d.observe(event(2, route=Route.BLOCKED))
    for i in range(3, 10):
        d.observe(event(i))
    reading = d.check()
    assert reading is not None
    assert reading.value == pytest.approx(0.3) and reading.breached
    assert reading.evidence["fields"] == {"income": 2, "age": 1}
    assert reading.evidence["broken"] == 3
    assert reading.evidence["examples"][0] == "income: -5 is not >= 0"


@pytest.mark.parametrize(
    ("message", "field"),
    [("income: -5 is not >= 0", "income"), ("a.b: x: y", "a.b"), ("no field here", "(unknown)")],
)
def test_violated_field_is_the_text_before_the_first_colon(message: str, field: str) -> None:
    assert violated_field(message) == field
