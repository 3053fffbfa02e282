"""The shared machinery of detectors scored on late labels (accuracy, classification
quality, regression error).

Labels come late (minutes to weeks) and by request id, so a detector remembers recent
predictions in a bounded map and scores each label against its prediction when it lands.
The window therefore closes on labels, not on predictions: its `window` entries are the
last `window` *labelled* outcomes, whenever their predictions were served.
"""

from __future__ import annotations

import abc
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from ripcord.detect.base import Detector, Reading
from ripcord.detect.windows import require_int
from ripcord.events import FeatureValue, InferenceEvent, LabelEvent, Route

#: Predictions kept waiting for their label, by default: old ones are dropped first.
PENDING_LIMIT = 10_000
#: Labelled outcomes needed before a label-scored metric is judged (capped at the window).
MIN_LABELS = 50

P = TypeVar("P")  # what a pending prediction keeps until its label lands
Out = TypeVar("Out")  # one scored outcome in the window


class LateLabelDetector(Detector, Generic[P, Out]):
    """Joins labels to champion predictions by request id, in bounded memory.

    Parameters: `pending_limit` (default 10,000) bounds the map request id -> prediction;
    when full the oldest prediction is dropped (it will never be scored), so memory does not
    grow with traffic. `min_labels` (default min(window, 50)) outcomes are needed before
    `check()` reads. Labels for unknown or already-scored ids, labels of None and labels a
    family cannot score are ignored and counted in the evidence. Only champion events with a
    prediction are kept: the fallback's answers say nothing about the champion.

    Subclasses say what to keep per prediction (`_keep`), how a label scores against it
    (`_score`) and how the window of outcomes reads (`_read`).
    """

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
        self.pending_limit = require_int("pending_limit", pending_limit, low=1)
        self.min_labels = (
            min(window, MIN_LABELS)
            if min_labels is None
            else require_int("min_labels", min_labels, low=1, high=window)
        )
        self._pending: OrderedDict[str, P] = OrderedDict()
        self._outcomes: deque[Out] = deque(maxlen=window)
        self._dropped = 0
        self._unknown = 0
        self._changes = 0  # state changes so far: a reading is kept until the next one
        self._memo: tuple[int, Reading] | None = None

    def observe(self, event: InferenceEvent) -> None:
        if event.route is not Route.CHAMPION or event.prediction is None:
            return
        kept = self._keep(event)
        if kept is None:
            return
        pending = self._pending
        pending[event.request_id] = kept
        pending.move_to_end(event.request_id)  # a retried id is as new as its retry
        if len(pending) > self.pending_limit:
            pending.popitem(last=False)
            self._dropped += 1
        self._changes += 1

    def observe_batch(self, events: Sequence[InferenceEvent]) -> None:
        # `observe` inlined: the pending map is the only state, updated in event order.
        keep = self._keep
        kept = [
            (event.request_id, value)
            for event in events
            if event.route is Route.CHAMPION
            and event.prediction is not None
            and (value := keep(event)) is not None
        ]
        pending, limit = self._pending, self.pending_limit
        ids = [request_id for request_id, _ in kept]
        if len(set(ids)) == len(ids) and pending.keys().isdisjoint(ids):
            # All new ids (the usual case): appending them all, then dropping the oldest
            # past the limit, drops the same ids as doing it after each one.
            pending.update(kept)
            excess = len(pending) - limit
            for _ in range(excess):
                pending.popitem(last=False)
            self._dropped += max(excess, 0)
        else:  # a retried id moves to the end, and may come back after being dropped
            for request_id, value in kept:
                pending[request_id] = value
                pending.move_to_end(request_id)
                if len(pending) > limit:
                    pending.popitem(last=False)
                    self._dropped += 1
        self._changes += 1

    def observe_label(self, label: LabelEvent) -> None:
        kept = self._pending.pop(label.request_id, None)
        outcome = None
        if kept is not None and label.label is not None:
            outcome = self._score(kept, label.label)
        self._changes += 1
        if outcome is None:
            self._unknown += 1
            return
        self._outcomes.append(outcome)

    def check(self) -> Reading | None:
        if len(self._outcomes) < self.min_labels:
            return None
        if self._memo is not None and self._memo[0] == self._changes:
            return self._memo[1]
        reading = self._read(tuple(self._outcomes))
        if reading is not None:
            self._memo = (self._changes, reading)
        return reading

    def reset(self) -> None:
        self._pending.clear()
        self._outcomes.clear()
        self._dropped = 0
        self._unknown = 0
        self._changes = 0
        self._memo = None

    def _join_evidence(self) -> dict[str, Any]:
        """How the label join is doing: a report shows why few outcomes were scored."""
        return {
            "labelled": len(self._outcomes),
            "pending": len(self._pending),
            "dropped_unlabelled": self._dropped,
            "ignored_labels": self._unknown,
        }

    @abc.abstractmethod
    def _keep(self, event: InferenceEvent) -> P | None:
        """What to remember of a champion prediction until its label lands (None: skip)."""

    @abc.abstractmethod
    def _score(self, kept: P, label: FeatureValue) -> Out | None:
        """The outcome of one label against its prediction (None: the label is unusable)."""

    @abc.abstractmethod
    def _read(self, outcomes: Sequence[Out]) -> Reading | None:
        """The reading on at least `min_labels` outcomes (None: undefined on them)."""
