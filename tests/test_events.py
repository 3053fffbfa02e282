from __future__ import annotations

from typing import Any

import pytest

from ripcord.errors import EventError
from ripcord.events import InferenceEvent, LabelEvent, parse_event, parse_events


def inference(**overrides: Any) -> dict[str, Any]:
    data = {
        "kind": "inference",
        "model": "m",
        "version": "1",
        "request_id": "r1",
        "timestamp": "2026-01-01T00:00:00Z",
        "latency_ms": 3.0,
        "confidence": 0.9,
        "features": {"x": 1.0},
        "prediction": 1,
    }
    return data | overrides


def test_valid_events_parse_to_their_types() -> None:
    assert isinstance(parse_event(inference()), InferenceEvent)
    label = parse_event(
        {
            "kind": "label",
            "model": "m",
            "request_id": "r1",
            "label": 0,
            "timestamp": "2026-01-01T00:00:00+00:00",
        }
    )
    assert isinstance(label, LabelEvent)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"confidence": 1.5}, "event.confidence: 1.5 is not <= 1"),
        ({"latency_ms": -2}, "event.latency_ms: -2 is not >= 0"),
        ({"timestamp": "2026-01-01T00:00:00"}, "event.timestamp: '2026-01-01T00:00:00'"),
        ({"model": ""}, "event.model: ''"),
        ({"surprise": 1}, "event.surprise: 1 is not a known field"),
        ({"kind": "telemetry"}, "event.kind: 'telemetry' is not one of inference, label"),
    ],
)
def test_bad_fields_are_named_with_their_values(overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(EventError) as info:
        parse_event(inference(**overrides))
    assert expected in str(info.value)


def test_missing_field_is_named() -> None:
    data = inference()
    del data["request_id"]
    with pytest.raises(EventError, match=r"event\.request_id: None is required"):
        parse_event(data)


def test_a_batch_is_rejected_whole_with_every_bad_item() -> None:
    with pytest.raises(EventError) as info:
        parse_events([inference(), inference(confidence=7), inference(latency_ms=-1)])
    text = str(info.value)
    assert "events[1].confidence: 7" in text
    assert "events[2].latency_ms: -1" in text
    assert "events[0]" not in text
    assert len(info.value.problems) == 2
