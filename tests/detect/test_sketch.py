"""The quantile sketch behind the latency family: relative accuracy and bounded memory."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from ripcord.detect import LatencyDetector
from ripcord.detect.sketch import QuantileSketch, WindowedSketch, quantiles
from ripcord.events import InferenceEvent

Event = Callable[..., InferenceEvent]
QS = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999]


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng, n: rng.lognormal(3.5, 0.8, n),  # a usual latency shape
        lambda rng, n: (rng.pareto(1.5, n) + 1) * 5,  # a heavy tail
        lambda rng, n: rng.uniform(0.05, 20_000, n),  # wide and flat
    ],
)
@pytest.mark.parametrize("accuracy", [0.01, 0.02])
def test_quantiles_are_within_the_relative_accuracy_of_numpy(
    draw: Callable[[np.random.Generator, int], np.ndarray], accuracy: float
) -> None:
    values = draw(np.random.default_rng(17), 100_000)
    sketch = QuantileSketch(relative_accuracy=accuracy)
    sketch.add_many(values.tolist())
    exact = np.quantile(values, QS, method="lower")  # the order statistic at q * (n - 1)
    got = np.array([sketch.quantile(q) for q in QS])
    assert np.all(np.abs(got - exact) <= accuracy * exact * (1 + 1e-12))
    # Against numpy's default (interpolated) quantiles the error stays about as small.
    assert np.all(np.abs(got / np.quantile(values, QS) - 1) <= accuracy + 1e-3)


def test_memory_stays_bounded_over_a_million_values() -> None:
    rng = np.random.default_rng(3)
    window = WindowedSketch(10_000, slices=10)
    most = 0
    for _ in range(10):  # 1e6 values, spread over nine decades
        window.add_many((10 ** rng.uniform(-3, 6, 100_000)).tolist())
        most = max(most, window.bucket_count)
        assert window.count <= 10_000
    # log(1e9) / log(1.0202) is about 1,040 buckets per slice at most, whatever the count.
    assert most <= 10 * 1_050
    capped = QuantileSketch(max_buckets=64)
    capped.add_many((10 ** rng.uniform(-3, 6, 1_000_000)).tolist())
    assert len(capped.buckets) == 64 and capped.count == 1_000_000


def test_collapsing_gives_up_the_fast_tail_not_the_slow_one() -> None:
    values = np.random.default_rng(8).lognormal(3.0, 1.5, 50_000)
    capped = QuantileSketch(max_buckets=300)  # about half what the range needs at 1 %
    capped.add_many(values.tolist())
    assert len(capped.buckets) == 300
    for q in (0.95, 0.99):
        exact = float(np.quantile(values, q, method="lower"))
        assert abs(capped.quantile(q) - exact) <= 0.01 * exact
    assert capped.quantile(0.01) > 1.5 * float(np.quantile(values, 0.01, method="lower"))


def test_old_values_age_out_a_slice_at_a_time() -> None:
    window = WindowedSketch(100, slices=4)
    window.add_many([1000.0] * 100)
    window.add_many([10.0] * 75)  # three fresh slices, one old one left
    assert window.count == 100 and window.max() == 1000.0
    window.add(10.0)  # starts a fourth fresh slice: the old one is gone whole
    assert window.count == 76 and window.max() == 10.0
    assert window.quantiles([0.5, 0.99]) == [10.0, 10.0]  # clamped to the seen range: exact


def test_zero_and_tiny_values_share_a_bucket() -> None:
    sketch = QuantileSketch()
    sketch.add_many([0.0, 0.0, 0.0, 5.0])
    assert sketch.quantile(0.5) == 0.0 and sketch.quantile(1.0) == 5.0
    with pytest.raises(ValueError, match="^sketches: no value seen yet"):
        quantiles([QuantileSketch()], [0.5])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"relative_accuracy": 0.0}, r"^relative_accuracy: 0\.0 must be in \(0, 0\.5\)"),
        ({"max_buckets": 1}, r"^max_buckets: 1 must be >= 2"),
    ],
)
def test_sketch_parameters_are_refused_by_name(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QuantileSketch(**kwargs)  # type: ignore[arg-type]


def test_latency_reads_p50_p95_p99_from_the_sketch(event: Event) -> None:
    values = np.random.default_rng(6).lognormal(4.0, 0.4, 5_000)
    d = LatencyDetector(name="l", window=1_000, threshold=100.0)
    d.observe_batch([event(i, latency_ms=float(v)) for i, v in enumerate(values)])
    reading = d.check()
    assert reading is not None and reading.metric == "p95_latency_ms"
    covered = values[-reading.window :]  # the last slices: 900 to 1,000 events
    assert 900 <= reading.window <= 1_000
    for key, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        exact = float(np.quantile(covered, q, method="lower"))
        assert reading.evidence[key] == pytest.approx(exact, rel=0.01)
    assert reading.value == reading.evidence["p95_ms"] and reading.breached == (reading.value > 100)
    assert reading.evidence["max_ms"] == float(covered.max())


def test_latency_batch_and_one_by_one_agree(event: Event) -> None:
    values = np.random.default_rng(1).lognormal(3.0, 1.0, 3_000)
    events = [event(i, latency_ms=float(v)) for i, v in enumerate(values)]
    one, many = (LatencyDetector(name="l", window=500, threshold=50.0) for _ in range(2))
    for e in events:
        one.observe(e)
    for start in range(0, len(events), 37):
        many.observe_batch(events[start : start + 37])
    assert one.check() == many.check()


def test_latency_slices_are_validated_by_name() -> None:
    with pytest.raises(ValueError, match=r"^slices: 11 must be in \[1, 10\]"):
        LatencyDetector(name="l", window=10, threshold=5.0, slices=11)
    with pytest.raises(ValueError, match=r"^relative_accuracy: 0\.5 must be in \(0, 0\.1\)"):
        LatencyDetector(name="l", window=10, threshold=5.0, relative_accuracy=0.5)


@pytest.mark.parametrize("slices", [1, 3, 10])
def test_the_summed_full_slices_answer_as_merging_every_slice_would(slices: int) -> None:
    rng = np.random.default_rng(21)
    window = WindowedSketch(60, slices=slices)
    for i, value in enumerate(rng.lognormal(3.0, 1.0, 2_000)):
        window.add(float(value) if i % 97 else 0.0)  # a few zeros too
        if i % 37 == 0:
            slices_now = [s for s in window._sketches if s.count]
            expected = quantiles(slices_now, [0.5, 0.95, 0.99])
            assert window.quantiles([0.5, 0.95, 0.99]) == expected
            assert window._sealed.count + window._sketches[-1].count == window.count
