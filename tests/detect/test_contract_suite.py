"""One contract suite, run over every family in `default_registry()`.

A new family registered there is picked up here with no list to keep by hand: it must
validate its parameters, forget on `reset()`, be deterministic, stay quiet on stationary
traffic, fire once that traffic shifts, and hold no more memory after 30,000 events than
after 15,000.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from functools import partial
from inspect import signature
from types import FunctionType, ModuleType
from typing import Any

import pytest

from ripcord.detect import default_registry
from ripcord.detect.base import Detector, DetectorRegistry, Reading, Reference
from ripcord.sop.schema import DetectorSpec, ModelSop

FAMILIES = list(default_registry())
WINDOW = 200
STATIONARY, SHIFT_AT = 600, 400

Run = Callable[[Detector, object], list[Reading | None]]


def kind_of(family: str) -> str:
    """The seeded traffic a family watches: tabular unless the family declares otherwise
    (`traffic = "text"` for LLM replies, `"shadow"` for shadow copies)."""
    return default_registry().get(family).traffic


@pytest.fixture
def stream(stream: Callable[..., object], family: str) -> Callable[..., object]:
    """The conftest's seeded traffic, of the kind the family watches."""
    return partial(stream, kind=kind_of(family))


@pytest.fixture
def reference(references: Callable[[str], Reference], family: str) -> Reference:
    return references(kind_of(family))


def build(registry: DetectorRegistry, family: str, model: ModelSop, ref: Reference) -> Detector:
    """The family at its defaults, except that a family calibrating on its first `warmup`
    events (the change-point detectors) warms up over one window, so that every family reads
    by the end of a window and the streams below suit them all."""
    params = {"warmup": WINDOW} if "warmup" in signature(registry.get(family)).parameters else {}
    return registry.build(DetectorSpec(type=family, window=WINDOW, params=params), model, ref)


def test_default_registry_holds_the_built_in_families() -> None:
    expected = ["confidence", "latency", "error_rate", "accuracy", "contract"]
    expected += ["prediction_drift", "feature_drift", "cusum", "page_hinkley"]
    expected += ["feedback_spike", "feedback_poisoning", "business_rate"]
    expected += ["classification_quality", "regression_error", "data_quality", "throughput"]
    expected += ["fairness", "pii", "policy_phrases", "refusal_rate", "output_length"]
    expected += ["groundedness", "shadow_disagreement"]
    assert sorted(expected) == FAMILIES
    assert default_registry() is not default_registry()  # no shared global


@pytest.mark.parametrize("family", FAMILIES)
def test_registry_builds_the_family_with_its_name(
    registry: DetectorRegistry, family: str, model: ModelSop, reference: Reference
) -> None:
    detector = registry.build(DetectorSpec(type=family, name="mine"), model, reference)
    assert detector.family == family
    assert detector.name == "mine"
    assert detector.check() is None  # nothing seen yet


@pytest.mark.parametrize("family", FAMILIES)
def test_window_zero_is_refused_naming_window(
    registry: DetectorRegistry, family: str, model: ModelSop, reference: Reference
) -> None:
    spec = DetectorSpec.model_construct(type=family, name=None, window=0, threshold=None, params={})
    with pytest.raises(ValueError, match=r"^window: 0 must be > 0"):
        registry.build(spec, model, reference)


@pytest.mark.parametrize("family", FAMILIES)
def test_unknown_parameter_is_refused_naming_it(
    registry: DetectorRegistry, family: str, model: ModelSop, reference: Reference
) -> None:
    spec = DetectorSpec(type=family, params={"bogus": 1})
    with pytest.raises(ValueError, match="bogus"):
        registry.build(spec, model, reference)


@pytest.mark.parametrize("family", FAMILIES)
def test_out_of_range_threshold_is_refused_naming_it(
    registry: DetectorRegistry, family: str, model: ModelSop, reference: Reference
) -> None:
    spec = DetectorSpec(type=family, threshold=-1.0)
    with pytest.raises(ValueError, match=r"^threshold: -1\.0 must be"):
        registry.build(spec, model, reference)


@pytest.mark.parametrize("family", FAMILIES)
def test_reset_forgets_everything(
    registry: DetectorRegistry,
    family: str,
    model: ModelSop,
    reference: Reference,
    stream: Callable[..., object],
    run: Run,
) -> None:
    detector = build(registry, family, model, reference)
    traffic = stream(7, WINDOW, shifted=True)
    before = run(detector, traffic)[-1]
    assert before is not None
    detector.reset()
    assert detector.check() is None
    assert run(detector, traffic)[-1] == before  # no count survived the reset


@pytest.mark.parametrize("family", FAMILIES)
def test_same_stream_gives_same_readings(
    registry: DetectorRegistry,
    family: str,
    model: ModelSop,
    reference: Reference,
    stream: Callable[..., object],
    run: Run,
) -> None:
    traffic = stream(3, 300)
    first = run(build(registry, family, model, reference), traffic)
    second = run(build(registry, family, model, reference), traffic)
    assert first == second
    assert any(r is not None for r in first)


@pytest.mark.parametrize("family", FAMILIES)
def test_stationary_stream_never_breaches(
    registry: DetectorRegistry,
    family: str,
    model: ModelSop,
    reference: Reference,
    stream: Callable[..., object],
    run: Run,
) -> None:
    readings = run(build(registry, family, model, reference), stream(2, STATIONARY))
    taken = [r for r in readings if r is not None]
    assert len(taken) >= STATIONARY - WINDOW  # it did read, from a full window at the latest
    assert not [r for r in taken if r.breached]


@pytest.mark.parametrize("family", FAMILIES)
def test_shift_breaches_after_it_starts_and_within_a_window(
    registry: DetectorRegistry,
    family: str,
    model: ModelSop,
    reference: Reference,
    stream: Callable[..., object],
    run: Run,
) -> None:
    detector = build(registry, family, model, reference)
    calm = run(detector, stream(2, SHIFT_AT))
    shifted = run(detector, stream(5, WINDOW, shifted=True, start=SHIFT_AT))
    assert not [r for r in calm if r is not None and r.breached]
    alarms = [i for i, r in enumerate(shifted) if r is not None and r.breached]
    assert alarms, f"{family} never fired on shifted traffic"
    assert alarms[0] < WINDOW // 2  # fired within half a window of the shift
    last = shifted[-1]
    assert last is not None and last.breached and last.evidence


LONG = 100_000


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_a_long_stationary_stream_raises_no_signal_at_the_defaults(
    registry: DetectorRegistry,
    family: str,
    model: ModelSop,
    reference: Reference,
    stream: Callable[..., Any],
) -> None:
    """100,000 stationary events with the family exactly as an SOP entry gets it (default
    window, threshold and parameters), read every 10 events as the engine does, and ticked
    with the clock before each read if the family reads silence."""
    detector = registry.build(DetectorSpec(type=family), model, reference)
    traffic = stream(11, LONG)
    reads, breaches = 0, []
    for i, (event, label, feedback) in enumerate(
        zip(traffic.events, traffic.labels, traffic.feedback, strict=True)
    ):
        detector.observe(event)
        detector.observe_label(label)
        detector.observe_feedback(feedback)
        if i % 10 == 9 and detector.ticks:
            detector.tick(event.timestamp)
        if i % 10 == 9 and (reading := detector.check()) is not None:
            reads += 1
            if reading.breached:
                breaches.append((i, reading.value, reading.threshold))
    assert reads > LONG // 20, f"{family} hardly ever read"
    assert breaches == [], f"{family}: {len(breaches)} breached reads, first {breaches[:3]}"


def held_bytes(root: object) -> int:
    """Bytes of every object reachable from `root` (sys.getsizeof, containers' tables
    included), through functions' closures but not their globals, classes or modules,
    which every instance shares. Unlike tracemalloc, blind to allocator free lists."""
    seen: set[int] = set()
    stack, total = [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type | ModuleType):
            continue
        seen.add(id(obj))
        if isinstance(obj, FunctionType):
            stack.extend(cell.cell_contents for cell in obj.__closure__ or ())
            continue
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_state_stays_bounded_however_many_events(
    registry: DetectorRegistry,
    family: str,
    model: ModelSop,
    reference: Reference,
    stream: Callable[..., Any],
) -> None:
    """Memory does not grow with the events seen: what a detector holds after 15,000
    events at its defaults (past every bound: windows, the 10,000 pending predictions of
    the label and feedback joins) is what it holds after 30,000, give or take 32 KiB,
    where keeping a pointer per event would add 117 KiB and a growing dict or list
    enlarges its table at least once."""
    detector = registry.build(DetectorSpec(type=family), model, reference)
    traffic = stream(11, LONG)  # the long test's stream (cached)
    held = []
    for i, (event, label, feedback) in enumerate(
        zip(traffic.events[:30_000], traffic.labels, traffic.feedback, strict=False)
    ):
        if i == 15_000:
            held.append(held_bytes(detector))
        detector.observe(event)
        detector.observe_label(label)
        detector.observe_feedback(feedback)
        if i % 10 == 9:
            detector.check()
    held.append(held_bytes(detector))
    assert held[1] - held[0] < 32 * 1024, f"{family} grew by {held[1] - held[0]} bytes"
