"""A business rate from user feedback joined to the predictions it is about.

Two rates, chosen by `rate`:

* `click_through` — share of served champion predictions (a recommendation shown) that got
  positive feedback (a click: score > 0). Bad when *below* threshold, default from the SLA
  `min_click_through`. A shown prediction closes as clicked on positive feedback, as not
  clicked on feedback of score <= 0 (seen, skipped or disliked), or as not clicked once it
  waited `horizon_s` seconds (default 1800, by event time) or was pushed out of the bounded
  map of `pending_limit` waiting predictions: most systems never say "not clicked".
* `false_positive` — share of positive predictions (equal to `positive`, default 1) that
  feedback says were wrong (score < 0: a reviewer overturned the flag), among those that got
  a verdict (score 0 is no verdict and is ignored). Bad when *above* threshold, default from
  the SLA `max_false_positive_rate`. A positive prediction without feedback never closes;
  pushed out of the map, it is dropped uncounted, as labels are.

Feedback comes late and by request id, so the window (the last `window` closed outcomes)
closes on feedback, not on predictions, and memory is bounded by `pending_limit` + `window`
whatever the traffic. Feedback without a request id, or for a request this version did not
serve (or that already closed), is ignored and counted in the evidence.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from ripcord.detect.accuracy import same_label
from ripcord.detect.base import Detector, Reading
from ripcord.detect.windows import rate_bound, require_choice, require_int, require_number
from ripcord.events import FeatureValue, FeedbackEvent, InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop
from ripcord.sop.severity import Direction

RATES = ("click_through", "false_positive")
#: the SLA each rate's threshold defaults from, and the side on which the rate is bad
_RATE_SLA: dict[str, tuple[str, Direction]] = {
    "click_through": ("min_click_through", "below"),
    "false_positive": ("max_false_positive_rate", "above"),
}
#: predictions waiting for feedback, by default: the oldest leave first
PENDING_LIMIT = 10_000
#: a shown prediction with no feedback after this long (event time) was not clicked
HORIZON_S = 1800.0
#: closed outcomes needed before the rate is judged (capped at the window)
MIN_OUTCOMES = 50


class BusinessRateDetector(Detector):
    """Click-through or false-positive rate from feedback joined by request id (see the
    module docstring); `rate`, `positive`, `horizon_s`, `pending_limit` and `min_outcomes`
    (default min(window, 50)) are its parameters."""

    family = "business_rate"
    sla_field: ClassVar[str | None] = None  # it depends on `rate`: see `threshold_for`

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None,
        rate: str = "click_through",
        positive: FeatureValue = 1,
        horizon_s: float = HORIZON_S,
        pending_limit: int = PENDING_LIMIT,
        min_outcomes: int | None = None,
    ) -> None:
        self.rate = require_choice("rate", rate, RATES)
        super().__init__(name=name, window=window, threshold=threshold)
        require_number("threshold", self.threshold, low=0.0, high=1.0)
        self.direction: Direction = _RATE_SLA[rate][1]
        if positive is None:
            raise ValueError("positive: None must be the positive class (e.g. 1)")
        self.positive = positive
        self.horizon = timedelta(
            seconds=require_number("horizon_s", horizon_s, low=0.0, high=1e9, open_=True)
        )
        self.pending_limit = require_int("pending_limit", pending_limit, low=1)
        self.min_outcomes = (
            min(window, MIN_OUTCOMES)
            if min_outcomes is None
            else require_int("min_outcomes", min_outcomes, low=1, high=window)
        )
        self._pending: OrderedDict[str, datetime] = OrderedDict()
        self._outcomes: deque[bool] = deque(maxlen=window)  # True: clicked / false positive
        self._counts = dict.fromkeys(("expired", "evicted", "ignored", "no_verdict"), 0)

    @classmethod
    def threshold_for(cls, spec: DetectorSpec, model: ModelSop) -> float | None:
        if spec.threshold is not None:
            return spec.threshold
        rate = spec.params.get("rate", "click_through")
        field = _RATE_SLA[rate][0] if rate in _RATE_SLA else None
        value = getattr(model.slas, field, None) if field else None
        return None if value is None else float(value)

    def observe(self, event: InferenceEvent) -> None:
        if event.route is not Route.CHAMPION or event.prediction is None or event.error:
            return
        if self.rate == "false_positive" and not same_label(event.prediction, self.positive):
            return
        self._pending[event.request_id] = event.timestamp
        self._pending.move_to_end(event.request_id)  # a retried id is as new as its retry
        if len(self._pending) > self.pending_limit:
            self._pending.popitem(last=False)
            self._close_unanswered("evicted")
        self._expire(event.timestamp)

    def observe_batch(self, events: Sequence[InferenceEvent]) -> None:
        for event in events:
            self.observe(event)

    def observe_feedback(self, feedback: FeedbackEvent) -> None:
        self._expire(feedback.timestamp)
        served = self._pending.pop(feedback.request_id, None) if feedback.request_id else None
        if served is None:
            self._counts["ignored"] += 1
        elif self.rate == "click_through":
            self._outcomes.append(feedback.score > 0)
        elif feedback.score == 0:
            self._counts["no_verdict"] += 1
        else:
            self._outcomes.append(feedback.score < 0)

    def _expire(self, now: datetime) -> None:
        """Close shown predictions that waited past the horizon as not clicked; for false
        positives nothing expires (no verdict is not a verdict)."""
        if self.rate != "click_through":
            return
        pending, oldest = self._pending, now - self.horizon
        while pending and next(iter(pending.values())) < oldest:
            pending.popitem(last=False)
            self._close_unanswered("expired")

    def _close_unanswered(self, why: str) -> None:
        self._counts[why] += 1
        if self.rate == "click_through":
            self._outcomes.append(False)

    def check(self) -> Reading | None:
        n = len(self._outcomes)
        if n < self.min_outcomes:
            return None
        hits = sum(self._outcomes)
        value = hits / n
        bound = rate_bound(hits, n, self.direction)
        evidence: dict[str, Any] = {
            self.rate: value,
            "hits": hits,
            "closed": n,
            "pending": len(self._pending),
            f"{'upper' if self.direction == 'below' else 'lower'}_bound_99": bound,
            **self._counts,
        }
        return Reading(self.rate, value, self.threshold, self.direction, n, evidence, bound)

    def reset(self) -> None:
        self._pending.clear()
        self._outcomes.clear()
        self._counts = dict.fromkeys(self._counts, 0)
