"""The engine's false-alarm controls and per-segment detection, on seeded streams.

Detectors of a SOP entry with `segment_by` run on all traffic and per segment value; a
signal says whether all traffic or which segment is affected. `persistence` (k of n
checks) and `cooldown_s` hold back signals; the defaults (1 of 1, no cooldown) signal at
the first breached check, as before.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from ripcord.detect import default_registry
from ripcord.detect.base import Signal
from ripcord.detect.engine import DetectionEngine
from ripcord.events import InferenceEvent
from ripcord.sop.schema import DetectorSpec, ModelSop, Persistence, Slas, Sop

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REGIONS = ("eu", "us", "apac")


def engine(**spec: Any) -> DetectionEngine:
    detector = DetectorSpec(type="error_rate", window=100, **spec)
    model = ModelSop(owner="team", slas=Slas(max_error_rate=0.05), detectors=(detector,))
    return DetectionEngine(Sop(models={"m": model}), default_registry())


def events(
    seed: int, n: int, *, broken: dict[str, float] | None = None, start: int = 0
) -> list[InferenceEvent]:
    """Seeded traffic spread over three regions; `broken` gives a region's error rate."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        region = REGIONS[int(rng.integers(0, 3))]
        rate = (broken or {}).get(region, 0.002)
        out.append(
            InferenceEvent(
                model="m",
                version="1",
                request_id=f"r{start + k}",
                timestamp=T0 + timedelta(seconds=start + k),
                latency_ms=5.0,
                error="TimeoutError" if rng.random() < rate else None,
                segment={"region": region, "client": f"c{k % 7}"},
            )
        )
    return out


def run(engine: DetectionEngine, stream: list[InferenceEvent]) -> list[Signal]:
    return engine.observe_batch(stream)


def test_one_broken_region_is_named_in_the_all_traffic_signal() -> None:
    e = engine(segment_by=("region",))
    assert run(e, events(1, 900)) == []
    signals = run(e, events(2, 900, broken={"eu": 0.9}, start=900))
    assert [s.segment for s in signals] == [None]
    evidence = signals[0].reading.evidence
    assert evidence["scope"] == "segments"
    assert evidence["segments_affected"] == [{"region": "eu"}]


def test_a_region_the_aggregate_hides_signals_on_its_own() -> None:
    detector = DetectorSpec(type="error_rate", window=100, segment_by=("region",))
    model = ModelSop(owner="team", slas=Slas(max_error_rate=0.05), detectors=(detector,))
    e = DetectionEngine(Sop(models={"m": model}), default_registry())
    quiet = [ev.model_copy(update={"segment": {"region": "eu"}}) for ev in events(1, 600)]
    run(e, quiet)
    big = [ev.model_copy(update={"segment": {"region": "us"}}) for ev in events(4, 1900)]
    small = events(5, 100, broken=dict.fromkeys(REGIONS, 0.6), start=2000)
    small = [ev.model_copy(update={"segment": {"region": "apac"}}) for ev in small]
    mixed = [x for i in range(100) for x in (*big[19 * i : 19 * (i + 1)], small[i])]
    mixed = [ev.model_copy(update={"request_id": f"m{i}"}) for i, ev in enumerate(mixed)]
    signals = run(e, mixed)  # apac is 1 request in 20: 3 % errors overall, under 5 %
    assert [s.segment for s in signals] == [{"region": "apac"}]
    assert signals[0].reading.evidence["scope"] == "segment"


def test_every_region_broken_is_one_all_traffic_signal() -> None:
    e = engine(segment_by=("region",))
    signals = run(e, events(3, 900, broken=dict.fromkeys(REGIONS, 0.6)))
    assert len(signals) == 1
    assert signals[0].segment is None
    evidence = signals[0].reading.evidence
    assert evidence["scope"] == "all traffic"
    assert sorted(s["region"] for s in evidence["segments_affected"]) == sorted(REGIONS)


def test_without_segment_by_the_signal_is_for_all_traffic() -> None:
    e = engine()
    run(e, events(1, 900))
    signals = run(e, events(2, 900, broken={"eu": 0.9}, start=900))
    assert [s.segment for s in signals] == [None]
    assert "scope" not in signals[0].reading.evidence  # unchanged for unsegmented entries


def test_segments_watched_are_capped() -> None:
    e = engine(segment_by=("client",), max_segments=3)
    run(e, events(1, 700))
    unit = e._watch("m", "1").units["error_rate"]
    assert len(unit.segments) == 3
    assert unit.overflow > 0  # the other four clients' events: all traffic only


def test_persistence_needs_k_of_n_breached_checks() -> None:
    broken = events(2, 300, broken=dict.fromkeys(REGIONS, 0.6), start=900)
    e1, e3 = engine(), engine(persistence=Persistence(k=3, n=4))
    run(e1, events(1, 900)), run(e3, events(1, 900))
    one = next(i for i, e in enumerate(broken) if run(e1, [e]))
    three = next(i for i, e in enumerate(broken) if run(e3, [e]))
    assert three == one + 2 * e1.check_every  # two more breached checks were needed


def test_cooldown_holds_back_a_second_signal() -> None:
    flapping: list[InferenceEvent] = []
    start = 0
    for block in range(4):  # bad, good, bad, good: the detector re-arms in between
        rates = dict.fromkeys(REGIONS, 0.6 if block % 2 == 0 else 0.0)
        flapping += events(10 + block, 400, broken=rates, start=900 + start)
        start += 400
    quiet = events(1, 900)
    free, cooled = engine(), engine(cooldown_s=3600.0)
    run(free, quiet), run(cooled, quiet)
    assert len(run(free, flapping)) == 2
    assert len(run(cooled, flapping)) == 1  # the second breach came within the hour


def test_persistence_k_greater_than_n_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match="k 3 is greater than n 2"):
        DetectorSpec(type="error_rate", persistence={"k": 3, "n": 2})


def test_shadow_copies_reach_the_serving_versions_shadow_detector() -> None:
    detector = DetectorSpec(type="shadow_disagreement", window=100)
    model = ModelSop(owner="team", detectors=(detector,))
    e = DetectionEngine(Sop(models={"m": model}), default_registry())
    signals: list[Signal] = []
    rng = np.random.default_rng(3)
    for i in range(300):
        served = int(rng.integers(0, 2))
        copy = served if i < 150 else 1 - served  # the shadow starts disagreeing at 150
        common = {"model": "m", "timestamp": T0 + timedelta(seconds=i), "latency_ms": 1.0}
        pair = [
            InferenceEvent(version="1", request_id=f"r{i}", prediction=served, **common),
            InferenceEvent(
                version="2", request_id=f"r{i}:shadow", prediction=copy, route="shadow", **common
            ),
        ]
        signals += e.observe_batch(pair) if i % 2 else [s for ev in pair for s in e.observe(ev)]
    assert [(s.version, s.family) for s in signals] == [("1", "shadow_disagreement")]
    assert signals[0].at > T0 + timedelta(seconds=150)


def test_a_detector_is_read_every_tenth_of_its_window_and_change_points_at_every_check() -> None:
    detectors = (
        DetectorSpec(type="error_rate", window=300),
        DetectorSpec(type="error_rate", name="tight", window=300, check_every=15),
        DetectorSpec(type="error_rate", name="small", window=40),
        DetectorSpec(type="cusum", params={"on": "error"}),
    )
    model = ModelSop(owner="team", slas=Slas(max_error_rate=0.05), detectors=detectors)
    e = DetectionEngine(Sop(models={"m": model}), default_registry())
    e.observe_batch(events(1, 10))
    units = e._watch("m", "1").units
    assert {n: u.every for n, u in units.items()} == {
        "error_rate": 30,
        "tight": 20,  # rounded up to the engine's cadence of 10
        "small": 10,
        "cusum": 10,
    }
    read: list[str] = []
    for name, unit in units.items():
        check = unit.all.detector.check
        unit.all.detector.check = lambda n=name, c=check: read.append(n) or c()  # type: ignore[method-assign]
    e.observe_batch(events(2, 50, start=10))  # reaches 20, 30, 40, 50, 60 events
    assert read.count("error_rate") == 2  # at 30 and 60
    assert read.count("tight") == 3 and read.count("small") == read.count("cusum") == 5
