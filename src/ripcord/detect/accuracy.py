"""Accuracy drop: how often the champion was right, once the truth arrives.

Labels come late (minutes to weeks) and by request id, so the detector remembers recent
predictions in a bounded map and scores each label against its prediction when it lands.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Sequence

from ripcord.detect.base import Detector, Reading
from ripcord.detect.windows import rate_bound, require_int, require_number
from ripcord.events import FeatureValue, InferenceEvent, LabelEvent, Route

#: Predictions kept waiting for their label, by default: old ones are dropped first.
PENDING_LIMIT = 10_000
#: Labelled outcomes needed before the accuracy is judged (capped at the window).
MIN_LABELS = 50


def _as_float(value: FeatureValue) -> float | None:
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def same_label(prediction: FeatureValue, label: FeatureValue) -> bool:
    """Tolerant equality: numbers (or numeric strings: "1", 1 and 1.0) compare as floats,
    anything else as text, because upstream systems disagree on how to spell a class."""
    left, right = _as_float(prediction), _as_float(label)
    if left is not None and right is not None:
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
    return str(prediction) == str(label)


class AccuracyDetector(Detector):
    """Share of correct predictions over the last `window` labelled champion events; bad
    when *below* threshold (default from the SLA `min_accuracy`).

    Parameters: `pending_limit` (default 10,000) bounds the map request id -> prediction;
    when full the oldest prediction is dropped (it will never be scored), so memory does not
    grow with traffic. `min_labels` (default min(window, 50)) outcomes are needed before
    `check()` reads. Labels for unknown or already-scored ids, and labels of None, are
    ignored and counted in the evidence. Only champion events with a prediction are scored.
    """

    family = "accuracy"
    sla_field = "min_accuracy"

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None,
        pending_limit: int = PENDING_LIMIT,
        min_labels: int | None = None,
    ) -> None:
        super().__init__(name=name, window=window, threshold=threshold)
        require_number("threshold", self.threshold, low=0.0, high=1.0)
        self.pending_limit = require_int("pending_limit", pending_limit, low=1)
        self.min_labels = (
            min(window, MIN_LABELS)
            if min_labels is None
            else require_int("min_labels", min_labels, low=1, high=window)
        )
        self._pending: OrderedDict[str, FeatureValue] = OrderedDict()
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._dropped = 0
        self._unknown = 0

    def observe(self, event: InferenceEvent) -> None:
        if event.route is not Route.CHAMPION or event.prediction is None:
            return
        self._pending[event.request_id] = event.prediction
        self._pending.move_to_end(event.request_id)  # a retried id is as new as its retry
        if len(self._pending) > self.pending_limit:
            self._pending.popitem(last=False)
            self._dropped += 1

    def observe_batch(self, events: Sequence[InferenceEvent]) -> None:
        # `observe` inlined: the pending map is the only state, updated in event order.
        pending, limit = self._pending, self.pending_limit
        for event in events:
            if event.route is not Route.CHAMPION or event.prediction is None:
                continue
            pending[event.request_id] = event.prediction
            pending.move_to_end(event.request_id)
            if len(pending) > limit:
                pending.popitem(last=False)
                self._dropped += 1

    def observe_label(self, label: LabelEvent) -> None:
        prediction = self._pending.pop(label.request_id, None)
        if prediction is None or label.label is None:
            self._unknown += 1
            return
        self._outcomes.append(same_label(prediction, label.label))

    def check(self) -> Reading | None:
        if len(self._outcomes) < self.min_labels:
            return None
        correct = sum(self._outcomes)
        accuracy = correct / len(self._outcomes)
        evidence = {
            "accuracy": accuracy,
            "correct": correct,
            "labelled": len(self._outcomes),
            "pending": len(self._pending),
            "dropped_unlabelled": self._dropped,
            "ignored_labels": self._unknown,
        }
        n = len(self._outcomes)
        bound = rate_bound(correct, n, "below")
        evidence["upper_bound_99"] = bound
        return Reading("accuracy", accuracy, self.threshold, "below", n, evidence, bound)

    def reset(self) -> None:
        self._pending.clear()
        self._outcomes.clear()
        self._dropped = 0
        self._unknown = 0
