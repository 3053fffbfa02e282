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


@pytest.mark.parametrize(
    ("stamp", "ok"),
    [
        ("0001-01-01T00:30:00+01:00", False),  # before year 1 once in UTC
        ("9999-12-31T23:30:00-02:00", False),  # after year 9999 once in UTC
        ("0001-01-02T00:00:00+01:00", True),
        ("9999-12-31T20:00:00-02:00", True),
        ("2026-11-24T08:00:00+05:30", True),
    ],
)
def test_a_time_with_no_utc_equivalent_is_refused_naming_it(stamp: str, ok: bool) -> None:
    data = {"kind": "label", "model": "m", "timestamp": stamp, "request_id": "r", "label": 1}
    if ok:
        assert parse_event(data).timestamp.utcoffset() is not None
        return
    with pytest.raises(EventError) as caught:
        parse_event(data)
    assert [p.path for p in caught.value.problems] == ["event.timestamp"]
    assert "out of range once converted to UTC" in caught.value.problems[0].message
