"""Latency spike: a high quantile (p95 by default) of serving latency.

A quantile rather than the mean, because a slow tail is what users and SLAs feel, and one
very slow request should not move the figure much (SPEC scenario 4: ad-bidding latency).
The quantiles come from a windowed log-bucketed sketch (`ripcord.detect.sketch`): within
1 % of the exact figure by default, in memory that does not grow with the window or the
traffic, and cheap to query on every check.
"""

from __future__ import annotations

from collections.abc import Sequence

from ripcord.detect.base import Detector, Reading
from ripcord.detect.sketch import DEFAULT_ACCURACY, WindowedSketch
from ripcord.detect.windows import MIN_EVENTS, require_int, require_number
from ripcord.events import InferenceEvent, Route

#: Routes on which no model ran: their near-zero latency would hide a slow champion.
_NOT_SERVED = (Route.KILLED, Route.BLOCKED)
DEFAULT_SLICES = 10


class LatencyDetector(Detector):
    """The `quantile` (default 0.95) of `latency_ms` over about the last `window` served
    events; bad when *above* threshold.

    Killed and blocked requests are skipped (no model ran); champion and fallback requests
    count, since both are what callers wait for. Reads once `min_events` (default
    min(window, 30)) events are in. The threshold defaults from the SLA `p95_latency_ms`.
    Evidence carries p50, p95, p99, the mean and the maximum.

    Quantiles are within `relative_accuracy` (default 0.01) of the exact ones. The window is
    `slices` (default 10) rotating sub-sketches, so the figure covers between
    window * (1 - 1 / slices) and `window` events, and old events age out a slice at a time.
    """

    family = "latency"
    sla_field = "p95_latency_ms"

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None,
        quantile: float = 0.95,
        min_events: int | None = None,
        relative_accuracy: float = DEFAULT_ACCURACY,
        slices: int | None = None,
    ) -> None:
        super().__init__(name=name, window=window, threshold=threshold)
        self.quantile = require_number("quantile", quantile, low=0.0, high=1.0, open_=True)
        require_number("threshold", self.threshold, low=0.0, high=float("inf"), open_=True)
        self.min_events = (
            min(window, MIN_EVENTS)
            if min_events is None
            else require_int("min_events", min_events, low=1, high=window)
        )
        require_number("relative_accuracy", relative_accuracy, low=0.0, high=0.1, open_=True)
        slices = min(window, DEFAULT_SLICES) if slices is None else slices
        self._sketch = WindowedSketch(
            window,
            slices=require_int("slices", slices, low=1, high=window),
            relative_accuracy=relative_accuracy,
        )
        self.metric = f"p{self.quantile * 100:g}_latency_ms"
        self._changes = 0
        self._memo: tuple[int, Reading] | None = None

    def observe(self, event: InferenceEvent) -> None:
        if event.route not in _NOT_SERVED:
            self._sketch.add(event.latency_ms)
            self._changes += 1

    def observe_batch(self, events: Sequence[InferenceEvent]) -> None:
        values = [e.latency_ms for e in events if e.route not in _NOT_SERVED]
        self._sketch.add_many(values)
        self._changes += len(values)

    def check(self) -> Reading | None:
        count = self._sketch.count
        if count < self.min_events:
            return None
        if self._memo is not None and self._memo[0] == self._changes:
            return self._memo[1]
        p50, p95, p99, value = self._sketch.quantiles([0.50, 0.95, 0.99, self.quantile])
        evidence = {
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "mean_ms": self._sketch.mean(),
            "max_ms": self._sketch.max(),
            "count": count,
            "relative_accuracy": self._sketch.relative_accuracy,
        }
        reading = Reading(self.metric, value, self.threshold, "above", count, evidence)
        self._memo = (self._changes, reading)
        return reading

    def reset(self) -> None:
        self._sketch.clear()
        self._changes = 0
        self._memo = None
