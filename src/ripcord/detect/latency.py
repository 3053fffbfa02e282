"""Latency spike: a high quantile (p95 by default) of serving latency.

A quantile rather than the mean, because a slow tail is what users and SLAs feel, and one
very slow request should not move the figure much (SPEC scenario 4: ad-bidding latency).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ripcord.detect.base import Reading
from ripcord.detect.windows import WindowedDetector, require_number
from ripcord.events import InferenceEvent, Route

#: Routes on which no model ran: their near-zero latency would hide a slow champion.
_NOT_SERVED = (Route.KILLED, Route.BLOCKED)


class LatencyDetector(WindowedDetector[float]):
    """The `quantile` (default 0.95) of `latency_ms` over the last `window` served events;
    bad when *above* threshold.

    Killed and blocked requests are skipped (no model ran); champion and fallback requests
    count, since both are what callers wait for. Reads once `min_events` (default
    min(window, 30)) events are in. The threshold defaults from the SLA `p95_latency_ms`.
    Evidence carries p50, p95, p99, the mean and the maximum.
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
    ) -> None:
        super().__init__(name=name, window=window, threshold=threshold, min_events=min_events)
        self.quantile = require_number("quantile", quantile, low=0.0, high=1.0, open_=True)
        require_number("threshold", self.threshold, low=0.0, high=float("inf"), open_=True)
        self.metric = f"p{self.quantile * 100:g}_latency_ms"

    def _take(self, event: InferenceEvent) -> float | None:
        return None if event.route in _NOT_SERVED else event.latency_ms

    def _read(self, values: Sequence[float]) -> Reading:
        data = np.asarray(values, dtype=float)
        p50, p95, p99, value = np.quantile(data, [0.50, 0.95, 0.99, self.quantile])
        evidence = {
            "p50_ms": float(p50),
            "p95_ms": float(p95),
            "p99_ms": float(p99),
            "mean_ms": float(data.mean()),
            "max_ms": float(data.max()),
            "count": int(data.size),
        }
        return Reading(self.metric, float(value), self.threshold, "above", data.size, evidence)
