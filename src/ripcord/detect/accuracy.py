"""Accuracy drop: how often the champion was right, once the truth arrives.

Labels come late and by request id; `ripcord.detect.labels` joins them to the predictions
in bounded memory, and the window closes on labels, not on predictions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ripcord.detect.base import Reading
from ripcord.detect.labels import MIN_LABELS, PENDING_LIMIT, LateLabelDetector
from ripcord.detect.windows import rate_bound, require_number
from ripcord.events import FeatureValue, InferenceEvent

__all__ = ["MIN_LABELS", "PENDING_LIMIT", "AccuracyDetector", "as_float", "same_label"]


def as_float(value: FeatureValue) -> float | None:
    """A number (or numeric string) as a float; None for anything else, bools included
    only as 0/1 because upstream systems send booleans as class labels."""
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


_as_float = as_float  # the name other families imported before it was public


def same_label(prediction: FeatureValue, label: FeatureValue) -> bool:
    """Tolerant equality: numbers (or numeric strings: "1", 1 and 1.0) compare as floats,
    anything else as text, because upstream systems disagree on how to spell a class."""
    left, right = as_float(prediction), as_float(label)
    if left is not None and right is not None:
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
    return str(prediction) == str(label)


class AccuracyDetector(LateLabelDetector[FeatureValue, bool]):
    """Share of correct predictions over the last `window` labelled champion events; bad
    when *below* threshold (default from the SLA `min_accuracy`).

    Parameters `pending_limit` (default 10,000) and `min_labels` (default min(window, 50))
    bound the label join; see `LateLabelDetector`.
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
        super().__init__(
            name=name, window=window, threshold=threshold, pending_limit=pending_limit,
            min_labels=min_labels,
        )  # fmt: skip
        require_number("threshold", self.threshold, low=0.0, high=1.0)

    def _keep(self, event: InferenceEvent) -> FeatureValue:
        return event.prediction

    def _score(self, kept: FeatureValue, label: FeatureValue) -> bool:
        return same_label(kept, label)

    def _read(self, outcomes: Sequence[bool]) -> Reading:
        n = len(outcomes)
        correct = sum(outcomes)
        accuracy = correct / n
        bound = rate_bound(correct, n, "below")
        evidence = {
            "accuracy": accuracy,
            "correct": correct,
            **self._join_evidence(),
            "upper_bound_99": bound,
        }
        return Reading("accuracy", accuracy, self.threshold, "below", n, evidence, bound)
