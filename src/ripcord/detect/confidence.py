"""Confidence drop: the champion's mean confidence over its last served events, or the
share of them under a floor.

A model can go wrong while still answering fast and without errors; a falling mean
confidence is often the first sign (SPEC scenario 5: pricing under 0.70). A mean can hide
a tail: a model that is sure of most answers and unsure of a growing minority keeps its
mean while more and more answers fall under the confidence its users act on, which the
share under a `floor` sees.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ripcord.detect.base import Evidence, Reading
from ripcord.detect.stats import FloatArray
from ripcord.detect.windows import (
    WindowedDetector,
    array_mean,
    array_mean_bound,
    rate_bound,
    require_number,
)
from ripcord.events import InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop

#: with a `floor`, bad when more than a fifth of the answers fall under it
DEFAULT_MAX_SHARE = 0.2


class ConfidenceDetector(WindowedDetector[float]):
    """Mean `confidence` of the last `window` champion events; bad when *below* threshold.

    Events without a confidence, and events the champion did not serve (fallback, killed,
    blocked), are skipped: the fallback's confidence says nothing about the champion.
    Reads once `min_events` (default min(window, 30)) confidences are in. The threshold
    defaults from the SLA `min_mean_confidence`.

    With `floor` (e.g. 0.7) the reading is instead the share of confidences under the
    floor, bad when *above* the threshold (the largest share allowed, default 0.2); a
    breach needs the 99 % Wilson lower bound of the share past it too.

    >>> from datetime import UTC, datetime
    >>> d = ConfidenceDetector(name="confidence", window=3, threshold=0.7)
    >>> for i, c in enumerate([0.9, 0.6, 0.5]):
    ...     d.observe(InferenceEvent(model="m", version="1", request_id=str(i),
    ...         timestamp=datetime(2026, 1, 1, tzinfo=UTC), confidence=c, latency_ms=5))
    >>> reading = d.check()
    >>> round(reading.value, 4), reading.breached
    (0.6667, True)
    """

    family = "confidence"
    sla_field = "min_mean_confidence"

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None,
        min_events: int | None = None,
        floor: float | None = None,
    ) -> None:
        super().__init__(name=name, window=window, threshold=threshold, min_events=min_events)
        require_number("threshold", self.threshold, low=0.0, high=1.0)
        if floor is not None:
            require_number("floor", floor, low=0.0, high=1.0)
        self.floor = floor

    @classmethod
    def threshold_for(cls, spec: DetectorSpec, model: ModelSop) -> float | None:
        if spec.threshold is None and spec.params.get("floor") is not None:
            return DEFAULT_MAX_SHARE  # a share's limit, not the SLA's mean
        return super().threshold_for(spec, model)

    def _take(self, event: InferenceEvent) -> float | None:
        if event.route is not Route.CHAMPION:
            return None
        return event.confidence

    def _take_all(self, events: Sequence[InferenceEvent]) -> list[float | None]:
        champion = Route.CHAMPION
        return [e.confidence if e.route is champion else None for e in events]

    def _read(self, values: Sequence[float]) -> Reading:
        return self._read_array(np.fromiter(values, dtype=float, count=len(values)))

    def _read_spans(self, values: list[float], spans: Sequence[tuple[int, int]]) -> list[Reading]:
        # one conversion for the batch; each window a view of it (never written again)
        data = np.fromiter(values, dtype=float, count=len(values))
        return [self._read_array(data[lo:hi]) for lo, hi in spans]

    def _read_array(self, data: FloatArray) -> Reading:
        if self.floor is not None:
            return self._read_share(data, self.floor)
        mean = array_mean(data)
        bound = array_mean_bound(data, mean, "below")

        def evidence() -> dict[str, float | int]:
            return {
                "mean_confidence": mean,
                "share_below_threshold": float(np.count_nonzero(data < self.threshold)) / data.size,
                "p10_confidence": float(np.quantile(data, 0.10)),
                "count": int(data.size),
                "upper_bound_99": bound,
            }

        return Reading(
            "mean_confidence", mean, self.threshold, "below", data.size, Evidence(evidence), bound
        )

    def _read_share(self, data: FloatArray, floor: float) -> Reading:
        under = int(np.count_nonzero(data < floor))
        share = under / data.size
        bound = rate_bound(under, data.size, "above")

        def evidence() -> dict[str, float | int]:
            return {
                "share_under_floor": share,
                "floor": floor,
                "under_floor": under,
                "mean_confidence": array_mean(data),
                "count": int(data.size),
                "lower_bound_99": bound,
            }

        return Reading(
            "share_under_floor",
            share,
            self.threshold,
            "above",
            data.size,
            Evidence(evidence),
            bound,
        )
