"""Streaming quantiles in bounded memory: a log-bucketed sketch with relative accuracy,
and a window of such sketches that ages old values out.

The sketch is DDSketch's (Masson, Rim & Lee, VLDB 2019): a positive value x goes to bucket
ceil(log_gamma(x)) with gamma = (1 + a) / (1 - a), and a quantile is answered by the bucket
holding its rank, at the bucket's centre 2 gamma^k / (gamma + 1), which is within a relative
error `a` of the true order statistic whatever the distribution. The bucket count depends
on the range of the values (log(max / min) / log(gamma)), not on how many were seen: about
900 buckets cover 1 microsecond to 3 hours at 1 %. When `max_buckets` is reached anyway, the
lowest buckets are merged, so accuracy is given up on the fast tail, never on the slow one
that latency SLAs are about.

>>> sketch = QuantileSketch(relative_accuracy=0.01)
>>> for ms in range(1, 1001):
...     sketch.add(float(ms))
>>> abs(sketch.quantile(0.95) - 950.0) / 950.0 <= 0.01
True
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import accumulate

from ripcord.detect.windows import require_int, require_number

DEFAULT_ACCURACY = 0.01
DEFAULT_MAX_BUCKETS = 2048
#: values at or below this go to one "zero" bucket: log-buckets cannot hold 0
MIN_VALUE = 1e-9


class QuantileSketch:
    """Quantiles of non-negative values within relative error `relative_accuracy`."""

    def __init__(
        self,
        relative_accuracy: float = DEFAULT_ACCURACY,
        max_buckets: int = DEFAULT_MAX_BUCKETS,
    ) -> None:
        self.relative_accuracy = require_number(
            "relative_accuracy", relative_accuracy, low=0.0, high=0.5, open_=True
        )
        self.max_buckets = require_int("max_buckets", max_buckets, low=2)
        self.gamma = (1 + self.relative_accuracy) / (1 - self.relative_accuracy)
        self._log_gamma = math.log(self.gamma)
        self.buckets: dict[int, int] = {}
        self.zeros = 0
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float) -> None:
        """Take one value; values at or below MIN_VALUE share the zero bucket."""
        self.count += 1
        self.total += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if value <= MIN_VALUE:
            self.zeros += 1
            return
        key = math.ceil(math.log(value) / self._log_gamma)
        buckets = self.buckets
        buckets[key] = buckets.get(key, 0) + 1
        if len(buckets) > self.max_buckets:
            self._collapse()

    def add_many(self, values: Iterable[float]) -> None:
        """The same state as `add` on each value in turn (same arithmetic, no numpy, so a
        value on a bucket edge lands in the same bucket either way), with the fields held
        in locals through the loop."""
        buckets, log_gamma, limit = self.buckets, self._log_gamma, self.max_buckets
        count, total, low, high, zeros = self.count, self.total, self.min, self.max, self.zeros
        log, ceil = math.log, math.ceil
        for value in values:
            count += 1
            total += value
            if value < low:
                low = value
            if value > high:
                high = value
            if value <= MIN_VALUE:
                zeros += 1
                continue
            key = ceil(log(value) / log_gamma)
            buckets[key] = buckets.get(key, 0) + 1
            if len(buckets) > limit:
                self._collapse()
        self.count, self.total, self.min, self.max, self.zeros = count, total, low, high, zeros

    def _collapse(self) -> None:
        """Merge the two lowest buckets: the fast tail loses accuracy, the slow tail keeps it."""
        lowest = min(self.buckets)
        count = self.buckets.pop(lowest)
        following = min(self.buckets)
        self.buckets[following] += count

    def value_of(self, key: int) -> float:
        """The bucket's representative: within `relative_accuracy` of anything it holds."""
        return 2.0 * self.gamma**key / (self.gamma + 1.0)

    def quantile(self, q: float) -> float:
        return quantiles([self], [q])[0]

    def clear(self) -> None:
        self.buckets.clear()
        self.zeros = self.count = 0
        self.total = 0.0
        self.min, self.max = math.inf, -math.inf


def quantiles(sketches: Sequence[QuantileSketch], qs: Sequence[float]) -> list[float]:
    """Quantiles `qs` of the union of `sketches` (same accuracy), in one pass over the
    merged buckets. The rank of q is q * (count - 1), counted from 0, as in DDSketch; the
    answer is clamped to the observed min and max, so a constant stream is answered exactly.
    """
    count = sum(s.count for s in sketches)
    if count == 0:
        raise ValueError("sketches: no value seen yet")
    merged = dict(sketches[0].buckets)  # copied in C; the others are usually small
    for sketch in sketches[1:]:
        for key, n in sketch.buckets.items():
            merged[key] = merged.get(key, 0) + n
    low = min(s.min for s in sketches)
    high = max(s.max for s in sketches)
    zeros = sum(s.zeros for s in sketches)
    keys = sorted(merged)
    cumulative = list(accumulate(merged[key] for key in keys))
    value_of = sketches[0].value_of
    answers = []
    for q in qs:
        rank = q * (count - 1)
        answer = low
        if rank >= zeros:  # the first bucket whose running count passes the rank
            at = bisect_right(cumulative, rank - zeros)
            if at < len(keys):
                answer = value_of(keys[at])
        answers.append(min(max(answer, low), high))
    return answers


class WindowedSketch:
    """Quantiles of about the last `window` values, in `slices` rotating sub-sketches.

    Values go into the newest slice; once it holds window / slices values a new one starts
    and the oldest is dropped whole. So the figures cover between window - window / slices
    and `window` values, and memory is at most `slices` sketches of `max_buckets` buckets,
    however many values pass through.
    """

    def __init__(
        self,
        window: int,
        *,
        slices: int = 10,
        relative_accuracy: float = DEFAULT_ACCURACY,
        max_buckets: int = DEFAULT_MAX_BUCKETS,
    ) -> None:
        self.window = require_int("window", window, low=1)
        self.slices = require_int("slices", slices, low=1, high=window)
        self.slice_size = math.ceil(window / self.slices)
        self._accuracy, self._max_buckets = relative_accuracy, max_buckets
        self.relative_accuracy = self._make().relative_accuracy  # validated there
        self._sketches: deque[QuantileSketch] = deque([self._make()], maxlen=self.slices)
        # The full slices never change again: their buckets are kept summed, so a query
        # merges two sketches (that sum and the newest slice), not `slices` of them.
        self._sealed = self._make()

    def _make(self) -> QuantileSketch:
        return QuantileSketch(self._accuracy, self._max_buckets)

    def add(self, value: float) -> None:
        current = self._sketches[-1]
        if current.count >= self.slice_size:
            self._rotate(current)
            current = self._sketches[-1]
        current.add(value)

    def _rotate(self, full: QuantileSketch) -> None:
        """Seal the full slice, drop the oldest (the window moves on), start a new one."""
        sealed = self._sealed
        _merge(sealed, full, +1)
        if len(self._sketches) == self.slices:
            _merge(sealed, self._sketches[0], -1)
        self._sketches.append(self._make())

    def add_many(self, values: Iterable[float]) -> None:
        """`add` on each value in turn, a slice's worth at a time."""
        values = values if isinstance(values, list) else list(values)
        pos = 0
        while pos < len(values):
            current = self._sketches[-1]
            if current.count >= self.slice_size:
                self._rotate(current)
                current = self._sketches[-1]
            room = self.slice_size - current.count
            current.add_many(values[pos : pos + room])
            pos += room

    @property
    def count(self) -> int:
        return sum(s.count for s in self._sketches)

    @property
    def bucket_count(self) -> int:
        """Buckets held over all slices: the memory the window uses."""
        return sum(len(s.buckets) for s in self._sketches)

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        sealed, current = self._sealed, self._sketches[-1]
        # min and max cannot be taken back out of a sum: read them from the slices
        sealed.min = min(s.min for s in self._sketches)
        sealed.max = max(s.max for s in self._sketches)
        return quantiles([s for s in (sealed, current) if s.count], qs)

    def mean(self) -> float:
        return sum(s.total for s in self._sketches) / self.count

    def max(self) -> float:
        return max(s.max for s in self._sketches)

    def clear(self) -> None:
        self._sketches.clear()
        self._sketches.append(self._make())
        self._sealed = self._make()


def _merge(into: QuantileSketch, other: QuantileSketch, sign: int) -> None:
    """Add (sign +1) or take back (-1) another sketch's counts; buckets that reach 0 go."""
    buckets = into.buckets
    for key, n in other.buckets.items():
        left = buckets.get(key, 0) + sign * n
        if left:
            buckets[key] = left
        else:
            del buckets[key]
    into.zeros += sign * other.zeros
    into.count += sign * other.count
    into.total += sign * other.total
