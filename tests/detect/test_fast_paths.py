"""The batch fast paths give exactly what the paths they stand in for give.

`Detector.observe_reads` (a whole micro-batch, read at several stops) against batches and
checks; the PSI tables of a batch against `extend` and `table`; the flat matrix conversion,
numpy's mean and sample deviation without their wrappers, the sketches' `add_many` and the
label join's batch against their one-at-a-time versions; and the engine on numeric-only
features, where feature drift takes its table path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from inspect import signature
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ripcord.detect import AccuracyDetector, default_registry
from ripcord.detect.base import Detector, DetectorRegistry, Reading, Reference
from ripcord.detect.columns import NumericColumns, to_matrix
from ripcord.detect.engine import DetectionEngine
from ripcord.detect.sketch import QuantileSketch, WindowedSketch
from ripcord.detect.stats import is_number
from ripcord.detect.windows import array_mean, sample_sd
from ripcord.events import InferenceEvent
from ripcord.sop.schema import DetectorSpec, ModelSop

from .conftest import REFERENCE_SIZE, Traffic
from .test_columns import ODD_VALUES, profiles, window_rows
from .test_engine_batch import batched, make_sop, mixed, per_event

FAMILIES = list(default_registry())
TABULAR = [f for f in FAMILIES if default_registry().get(f).traffic == "tabular"]
WINDOW = 200


def numeric_only(traffic: Traffic) -> Traffic:
    """The stream without its categorical feature, so every drift column is numeric."""
    events = tuple(
        e.model_copy(update={"features": {k: v for k, v in e.features.items() if k != "color"}})
        for e in traffic.events
    )
    return Traffic(events, traffic.labels, traffic.feedback)


def build(registry: DetectorRegistry, family: str, model: ModelSop, ref: Reference) -> Detector:
    params = {"warmup": WINDOW} if "warmup" in signature(registry.get(family)).parameters else {}
    return registry.build(DetectorSpec(type=family, window=WINDOW, params=params), model, ref)


def batch_and_check(
    detector: Detector, events: Sequence[InferenceEvent], stops: Sequence[int]
) -> list[Reading | None]:
    """What the engine did before `observe_reads`: a batch up to each stop, then a check."""
    readings, start = [], 0
    for stop in stops:
        detector.observe_batch(events[start:stop])
        readings.append(detector.check())
        start = stop
    detector.observe_batch(events[start:])
    return readings


@pytest.mark.parametrize(
    ("family", "numeric"), [*((f, False) for f in FAMILIES), *((f, True) for f in TABULAR)]
)
def test_observe_reads_gives_the_readings_of_batches_and_checks(
    registry: DetectorRegistry,
    family: str,
    model: ModelSop,
    stream: Callable[..., Traffic],
    references: Callable[[str], Reference],
    numeric: bool,
) -> None:
    kind = registry.get(family).traffic
    calm, shifted = stream(2, 900, kind=kind), stream(5, 600, shifted=True, start=900, kind=kind)
    reference = references(kind)
    if numeric:  # no categorical feature: feature drift takes its table path
        calm, shifted = numeric_only(calm), numeric_only(shifted)
        reference = Reference(REFERENCE_SIZE)
        for event in numeric_only(stream(1, REFERENCE_SIZE)).events:
            reference.add(event.features, event.prediction)
    fast, slow = (
        build(registry, family, model, reference),
        build(registry, family, model, reference),
    )
    events = [*calm.events, *shifted.events]
    labels, feedback = [*calm.labels, *shifted.labels], [*calm.feedback, *shifted.feedback]
    rng = np.random.default_rng(3)
    pos, tables = 0, False
    while pos < len(events):
        size = int(rng.choice([1, 13, 250, 500]))
        batch = events[pos : pos + size]
        every = int(rng.choice([1, 7, 20, 30]))
        stops = range(every - pos % every, len(batch) + 1, every)
        tables = tables or bool(getattr(fast, "_reads_tables", lambda: False)())
        assert fast.observe_reads(batch, stops) == batch_and_check(slow, batch, stops)
        for d in (fast, slow):
            for label, fb in zip(labels[pos : pos + size], feedback[pos : pos + size], strict=True):
                d.observe_label(label)
                d.observe_feedback(fb)
        assert fast.check() == slow.check()
        pos += size
    if numeric and family in ("feature_drift", "prediction_drift"):
        assert tables, "the table path was never taken"


@pytest.mark.parametrize("pending", [0, 5, 400])
def test_psi_reads_are_the_tables_of_extend_and_table(pending: int) -> None:
    built = profiles(1, 4)
    rows = window_rows(2, 2_000, 4)
    fast, slow = NumericColumns(300, built), NumericColumns(300, built)
    for columns in (fast, slow):
        columns.extend(rows[:350])
        columns.table("psi")
        columns.extend(rows[350 : 350 + pending])  # rows still pending when the batch comes
    batch = rows[350 + pending : 1_950]
    counts = [0, 3, 3, 30, 60, 700, 1_000, 1_010]  # repeats, and stretches past the window
    got = fast.psi_reads(batch, counts)
    start = 0
    for count, table in zip(counts, got, strict=True):
        slow.extend(batch[start:count])
        start = count
        expected = slow.table("psi")
        assert np.array_equal(table.statistic, expected.statistic)
        assert np.array_equal(table.data, expected.data, equal_nan=True)
        assert table.drifts() == expected.drifts()
    slow.extend(batch[start:])
    assert fast.psi_reads(rows[1_950:], []) == []
    slow.extend(rows[1_950:])
    after, expected = fast.table("psi"), slow.table("psi")
    assert np.array_equal(after.statistic, expected.statistic)
    assert np.array_equal(after.data, expected.data, equal_nan=True)


def reference_matrix(rows: Sequence[Sequence[Any]], width: int) -> np.ndarray:
    """The conversion value by value, as `stats.split_numeric` counts a number."""
    matrix = np.array(
        [[float(v) if is_number(v) else np.nan for v in row] for row in rows], dtype=np.float64
    ).reshape(len(rows), width)
    matrix[~np.isfinite(matrix)] = np.nan
    return matrix


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 4).flatmap(
        lambda width: st.lists(
            st.lists(
                st.floats(allow_nan=True) | st.sampled_from(ODD_VALUES) | st.integers(-9, 9),
                min_size=width,
                max_size=width,
            ),
            max_size=20,
        ).map(lambda rows: (width, rows))
    )
)
def test_to_matrix_converts_as_value_by_value(shaped: tuple[int, list[list[Any]]]) -> None:
    width, rows = shaped
    assert np.array_equal(to_matrix(rows, width), reference_matrix(rows, width), equal_nan=True)


def test_to_matrix_float_rows_take_the_flat_path_exactly() -> None:
    rows = [tuple(r) for r in np.random.default_rng(4).normal(0, 1e3, (500, 20)).tolist()]
    rows[7] = (math.inf, *rows[7][1:])
    assert np.array_equal(to_matrix(rows, 20), reference_matrix(rows, 20), equal_nan=True)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=400),
    st.integers(0, 5),
)
def test_mean_and_sd_are_numpys_to_the_bit(values: list[float], offset: int) -> None:
    data = np.array([0.0] * offset + values)[offset:]  # a view, as the batch path reads
    mean = array_mean(data)
    assert mean == float(data.mean())
    assert sample_sd(data, mean) == float(data.std(ddof=1))


def sketch_state(sketch: QuantileSketch) -> tuple[Any, ...]:
    return (dict(sketch.buckets), sketch.count, sketch.total, sketch.min, sketch.max, sketch.zeros)


@pytest.mark.parametrize("max_buckets", [2, 16, 2048])
def test_sketch_add_many_is_add_on_each(max_buckets: int) -> None:
    values = [*np.random.default_rng(5).lognormal(3.0, 2.0, 3_000).tolist(), 0.0, 1e-12, 5.0]
    one, many = QuantileSketch(0.01, max_buckets), QuantileSketch(0.01, max_buckets)
    for value in values:
        one.add(value)
    for start in range(0, len(values), 97):
        many.add_many(values[start : start + 97])
    assert sketch_state(many) == sketch_state(one)


@pytest.mark.parametrize("size", [1, 7, 20, 333])
def test_windowed_add_many_is_add_on_each(size: int) -> None:
    values = np.random.default_rng(6).lognormal(3.0, 0.5, 2_000).tolist()
    one, many = WindowedSketch(200, slices=10), WindowedSketch(200, slices=10)
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        for value in chunk:
            one.add(value)
        many.add_many(iter(chunk))  # any iterable
        assert [sketch_state(s) for s in many._sketches] == [sketch_state(s) for s in one._sketches]
        assert sketch_state(many._sealed) == sketch_state(one._sealed)
        assert many.quantiles([0.5, 0.95]) == one.quantiles([0.5, 0.95])


@pytest.mark.parametrize("limit", [3, 50, 10_000])
def test_label_join_batch_is_observe_on_each(
    event: Callable[..., InferenceEvent], limit: int
) -> None:
    """New ids take the bulk path; retried ones (within a batch, or of a pending or an
    already dropped prediction) the loop: the pending map, its order and the drops agree."""
    rng = np.random.default_rng(7)
    one = AccuracyDetector(name="a", window=10, threshold=0.5, pending_limit=limit)
    many = AccuracyDetector(name="a", window=10, threshold=0.5, pending_limit=limit)
    next_id = 0
    for _ in range(60):
        ids = list(range(next_id, next_id + int(rng.integers(1, 40))))
        next_id = ids[-1] + 1
        if rng.random() < 0.3:  # retries of recent or long-gone requests
            ids += [int(i) for i in rng.integers(max(0, next_id - 80), next_id, 3)]
        batch = [event(i, prediction=int(i % 2)) for i in ids]
        for e in batch:
            one.observe(e)
        many.observe_batch(batch)
        assert list(many._pending.items()) == list(one._pending.items())
        assert many._dropped == one._dropped


@pytest.mark.parametrize(("check_every", "sizes"), [(10, [500]), (7, [64, 3]), (10, [10_000])])
def test_batches_on_numeric_features_raise_the_signals_of_single_events(
    registry: DetectorRegistry, stream: Callable[..., Traffic], check_every: int, sizes: list[int]
) -> None:
    """`test_engine_batch` again, with no categorical feature: feature drift reads tables."""
    events = [
        e.model_copy(update={"features": {k: v for k, v in e.features.items() if k != "color"}})
        for e in mixed(stream)
    ]
    one = per_event(DetectionEngine(make_sop(), registry, check_every=check_every), events)
    many = batched(DetectionEngine(make_sop(), registry, check_every=check_every), events, sizes)
    assert "feature_drift" in {s.family for s in one}
    assert many == one
