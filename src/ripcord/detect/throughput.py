"""Throughput collapse: requests per second, now, against what the version served at first.

A model whose traffic falls away is often broken upstream of it (a client that stopped
calling after a bad answer, a router sending elsewhere, a queue that stalled) while every
per-request figure still looks fine. Rates come from the events' own timestamps, not the
wall clock, so replayed or batched traffic is judged as it happened.

Traffic that stops dead produces no event, so the service's housekeeping ticks the
detector with the clock (`tick`, about once a second) and the window's rate is measured up
to now: (n - 1) events over the window's span plus the silence since its last event. The
clock is first put on the events' time scale by the lag seen at the first tick after fresh
events (how far event timestamps trail the clock), so events stamped by a skewed client
clock, or a steady replay, do not read as silence. With the default threshold 0.3 a window
of n events over T seconds at r events per second falls past it after (1/0.3 - 1) T, about
2.3 T, of silence, and breaches once its 99 % bound does too, about (z sqrt(n) + z^2 / 2) /
(0.3 r) seconds later (z = 2.33): 200 events at 10 per second, 47 + 12 s, about a minute.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime

from ripcord.detect.base import Detector, Reading
from ripcord.detect.windows import Z_99, require_int, require_number
from ripcord.events import InferenceEvent, Route

#: Bad when the rate falls under 30 % of the baseline: traffic swings by day and hour, so
#: only a fall of more than two thirds is a collapse rather than a quiet hour.
DEFAULT_THRESHOLD = 0.3


def rate_upper_bound(intervals: int, seconds: float) -> float:
    """Upper 99 % bound on an event rate seen as `intervals` gaps over `seconds`: the
    score (Wilson-type) bound of a Poisson count, so a short window does not page."""
    k, z2 = intervals, Z_99 * Z_99
    return (k + z2 / 2 + Z_99 * math.sqrt(k + z2 / 4)) / seconds


class ThroughputDetector(Detector):
    """Events per second over the last `window` events, as a fraction of the rate over the
    version's first `baseline_windows` (default 1) windows; bad when *below* threshold
    (default 0.3).

    Every route but `shadow` counts: killed and blocked requests are still traffic. The rate
    over n events is (n - 1) / (last - first timestamp + silence), events taken in arrival
    order, where the silence is how long the clock (`tick`, on the events' time scale) has
    run past the last event: 0 until the detector is ticked. A window with no time in it
    (one timestamp, no silence) has no measurable rate and gives no reading, and the
    baseline, measured on events alone, waits until time has passed. Reads once the
    baseline is in and the window is full; a breach needs the 99 % upper bound of the
    current rate past the threshold too. `reset()` forgets the baseline, the window and the
    clock.
    """

    family = "throughput"
    default_threshold = DEFAULT_THRESHOLD
    ticks = True

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None = DEFAULT_THRESHOLD,
        baseline_windows: int = 1,
    ) -> None:
        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        super().__init__(name=name, window=window, threshold=threshold)
        require_number("threshold", self.threshold, low=0.0, high=1.0, open_=True)
        if window < 2:
            raise ValueError(f"window: {window!r} must be >= 2 (a rate needs two events)")
        self.baseline_windows = require_int("baseline_windows", baseline_windows, low=1, high=1000)
        self._times: deque[float] = deque(maxlen=window)
        self._first: float | None = None
        self._seen = 0
        self.baseline: float | None = None  # events per second, frozen once measured
        self._clock: float | None = None  # the last tick, on the events' time scale
        self._lag: float = 0.0  # how far event timestamps trail the clock
        self._fresh = False  # events since the last tick

    def observe(self, event: InferenceEvent) -> None:
        if event.route is Route.SHADOW:
            return
        t = event.timestamp.timestamp()
        self._times.append(t)
        self._fresh = True
        if self.baseline is not None:
            return
        if self._first is None:
            self._first = t
        self._seen += 1
        span = t - self._first
        if self._seen >= self.window * self.baseline_windows and span > 0:
            self.baseline = (self._seen - 1) / span

    def tick(self, now: datetime) -> None:
        if not self._times:
            return
        clock = now.timestamp()
        if self._fresh:  # re-measure the lag on the newest event seen
            self._lag, self._fresh = max(0.0, clock - self._times[-1]), False
        self._clock = clock - self._lag

    def check(self) -> Reading | None:
        times = self._times
        if self.baseline is None or len(times) < self.window:
            return None
        silent = 0.0 if self._clock is None else max(0.0, self._clock - times[-1])
        span = times[-1] + silent - times[0]
        if span <= 0:
            return None
        rate = (len(times) - 1) / span
        ratio = rate / self.baseline
        bound = rate_upper_bound(len(times) - 1, span) / self.baseline
        evidence = {
            "events_per_s": rate,
            "baseline_events_per_s": self.baseline,
            "ratio": ratio,
            "window_seconds": span,
            "count": len(times),
            "upper_bound_99": bound,
            "silent_seconds": silent,
        }
        return Reading(
            "throughput_ratio", ratio, self.threshold, "below", len(times), evidence, bound
        )

    def reset(self) -> None:
        self._times.clear()
        self._first = None
        self._clock, self._lag, self._fresh = None, 0.0, False
        self._seen = 0
        self.baseline = None
