"""Error spike: the share of served requests that failed.

Over 50 % is "model down" (SEV-1 in the default policy); anything over the SLA is SEV-2.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ripcord.detect.base import Reading
from ripcord.detect.windows import WindowedDetector, rate_bound, require_number
from ripcord.events import InferenceEvent, Route

#: Error messages are kept this long at most, so a window of stack traces stays small.
_MAX_MESSAGE = 200
_NOT_SERVED = (Route.KILLED, Route.BLOCKED)


class ErrorRateDetector(WindowedDetector[str | bool]):
    """Share of the last `window` served events whose `error` is set; bad when *above*.

    Killed and blocked requests are skipped: no model ran, and a contract block is the
    `contract` detector's signal, so counting it here too would page twice for one cause.
    Reads once `min_events` (default min(window, 30)) events are in. The threshold defaults
    from the SLA `max_error_rate`. Evidence lists the most frequent error messages.
    """

    family = "error_rate"
    sla_field = "max_error_rate"

    def __init__(
        self, *, name: str, window: int, threshold: float | None, min_events: int | None = None
    ) -> None:
        super().__init__(name=name, window=window, threshold=threshold, min_events=min_events)
        require_number("threshold", self.threshold, low=0.0, high=1.0)

    def _take(self, event: InferenceEvent) -> str | bool | None:
        if event.route in _NOT_SERVED:
            return None
        # False marks a success; an error keeps its (truncated) message for the evidence.
        return False if event.error is None else event.error[:_MAX_MESSAGE]

    def _take_all(self, events: Sequence[InferenceEvent]) -> list[str | bool | None]:
        return [
            None if e.route in _NOT_SERVED else False if e.error is None else e.error[:_MAX_MESSAGE]
            for e in events
        ]

    def _read(self, values: Sequence[str | bool]) -> Reading:
        errors = [v for v in values if v is not False]
        rate = len(errors) / len(values)
        top = Counter(str(e) for e in errors).most_common(3)
        evidence = {
            "error_rate": rate,
            "errors": len(errors),
            "count": len(values),
            "top_errors": [{"error": message, "count": n} for message, n in top],
        }
        bound = rate_bound(len(errors), len(values), "above")
        evidence["lower_bound_99"] = bound
        return Reading("error_rate", rate, self.threshold, "above", len(values), evidence, bound)
