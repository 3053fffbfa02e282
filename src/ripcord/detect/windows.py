"""Shared pieces of the detector families: parameter checks and the bounded event window.

Every family validates its parameters the same way, so a bad SOP entry always fails with a
message that starts with the parameter's name (`min_events: 0 must be in [1, 200]`), which
is what `DetectorRegistry.build` and `ripcord sop validate` show to the user.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections import deque
from collections.abc import Sequence
from itertools import accumulate
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from ripcord.detect.base import Detector, Reading
from ripcord.events import InferenceEvent
from ripcord.sop.severity import Direction

T = TypeVar("T")

#: Streaming rate detectors read once they hold this many events (or a full, smaller window):
#: enough that one odd request cannot page anyone, few enough to alarm within seconds.
MIN_EVENTS = 30


#: one-sided 99 % normal quantile, for the confidence bounds on small-window estimates
Z_99 = 2.3263478740408408


def rate_bound(hits: int, n: int, direction: Direction) -> float:
    """Wilson score bound on a rate, on the side nearest the threshold: the lower bound
    when a high rate is bad (`above`), the upper bound when a low rate is bad (`below`)."""
    p, z2 = hits / n, Z_99 * Z_99
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_99 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half if direction == "above" else centre + half


def mean_bound(values: Sequence[float], direction: Direction) -> float:
    """Normal bound on a mean, on the side nearest the threshold (see `rate_bound`)."""
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = Z_99 * sd / math.sqrt(n)
    return mean - half if direction == "above" else mean + half


def array_mean_bound(data: npt.NDArray[np.float64], mean: float, direction: Direction) -> float:
    """`mean_bound` of a numpy sample whose mean is known, without a Python loop."""
    n = data.size
    if n < 2:
        return mean
    half = Z_99 * sample_sd(data, mean) / math.sqrt(n)
    return mean - half if direction == "above" else mean + half


def array_mean(data: npt.NDArray[np.float64]) -> float:
    """`data.mean()` by numpy's own arithmetic (the same pairwise sum, divided by the
    count) without its dispatch, which costs more than the sum on a window of 100 values."""
    return float(np.add.reduce(data) / data.size)


def sample_sd(data: npt.NDArray[np.float64], mean: float) -> float:
    """`data.std(ddof=1)` of a sample whose mean is known, by numpy's own arithmetic (the
    pairwise sum of the same squared deviations; the square root is exact-rounded in both)."""
    deviations = data - mean
    np.multiply(deviations, deviations, out=deviations)
    return math.sqrt(np.add.reduce(deviations) / (data.size - 1))


def require_int(name: str, value: object, *, low: int, high: int | None = None) -> int:
    """An integer in [low, high]; bools are refused although Python counts them as ints."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: {value!r} must be an integer")
    if value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name}: {value!r} must be {'in ' if high is not None else ''}{bound}")
    return value


def require_number(
    name: str, value: object, *, low: float, high: float, open_: bool = False
) -> float:
    """A finite number in [low, high], or in (low, high) when `open_`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: {value!r} must be a number")
    number = float(value)
    inside = low < number < high if open_ else low <= number <= high
    if not math.isfinite(number) or not inside:
        bounds = f"({low:g}, {high:g})" if open_ else f"[{low:g}, {high:g}]"
        raise ValueError(f"{name}: {value!r} must be in {bounds}")
    return number


def require_choice(name: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: {value!r} must be one of {', '.join(choices)}")
    return value


class WindowedDetector(Detector, Generic[T]):
    """A detector over the last `window` values it takes from events, one value per event.

    Subclasses say which value an event contributes (`_take`; None skips the event) and how
    the window reads (`_read`). The window is a deque with `maxlen`, so memory is bounded by
    `window` whatever the traffic. `check()` returns None until `min_events` values are in
    (default: min(window, 30)), so a new version is judged within seconds of going live
    without one odd request deciding.
    """

    def __init__(
        self, *, name: str, window: int, threshold: float | None, min_events: int | None = None
    ) -> None:
        super().__init__(name=name, window=window, threshold=threshold)
        self.min_events = (
            min(window, MIN_EVENTS)
            if min_events is None
            else require_int("min_events", min_events, low=1, high=window)
        )
        self._values: deque[T] = deque(maxlen=window)

    def observe(self, event: InferenceEvent) -> None:
        value = self._take(event)
        if value is not None:
            self._values.append(value)

    def observe_batch(self, events: Sequence[InferenceEvent]) -> None:
        # One comprehension and one bounded `extend` instead of a call per event.
        take = self._take
        self._values.extend([v for e in events if (v := take(e)) is not None])

    def check(self) -> Reading | None:
        if len(self._values) < self.min_events:
            return None
        return self._read(tuple(self._values))

    def observe_reads(
        self, events: Sequence[InferenceEvent], stops: Sequence[int]
    ) -> list[Reading | None]:
        """The window before the batch and the batch's values as one list, each stop's
        window a slice of it: one pass over the events and one `extend`, not a batch and a
        copy of the window per stop. (A family that reads otherwise keeps the default.)"""
        cls = type(self)
        if cls.check is not WindowedDetector.check or cls.observe_batch is not _OBSERVE_BATCH:
            return super().observe_reads(events, stops)
        taken = self._take_all(events)
        before = list(accumulate((v is not None for v in taken), initial=0))
        new = [v for v in taken if v is not None]
        values = [*self._values, *new]
        self._values.extend(new)
        spans = []
        for stop in stops:
            end = len(values) - len(new) + before[stop]
            spans.append((max(0, end - self.window), end))
        read = [(lo, hi) for lo, hi in spans if hi - lo >= self.min_events]
        readings = iter(self._read_spans(values, read))
        return [next(readings) if hi - lo >= self.min_events else None for lo, hi in spans]

    def _take_all(self, events: Sequence[InferenceEvent]) -> list[T | None]:
        """`_take` of each event (a family may inline it: a call per event costs)."""
        return list(map(self._take, events))

    def _read_spans(self, values: list[T], spans: Sequence[tuple[int, int]]) -> list[Reading]:
        """`_read` of each window `values[lo:hi]` (a family may read them all at once)."""
        return [self._read(values[lo:hi]) for lo, hi in spans]

    def reset(self) -> None:
        self._values.clear()

    @abc.abstractmethod
    def _take(self, event: InferenceEvent) -> T | None:
        """The value this event adds to the window, or None to skip it."""

    @abc.abstractmethod
    def _read(self, values: Sequence[T]) -> Reading:
        """The reading on a window holding at least `min_events` values."""


_OBSERVE_BATCH = WindowedDetector.observe_batch
