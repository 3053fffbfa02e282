"""Classification quality from late labels, beyond accuracy: precision, recall, F1 and
ROC AUC of one positive class.

Accuracy hides what matters on imbalanced problems (a fraud model that never flags fraud is
99 % accurate): precision says how many flagged cases were real, recall how many real cases
were flagged, and ROC AUC whether the scores still rank positives above negatives at all.
Labels join predictions by request id (`ripcord.detect.labels`); the window closes on labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy.stats import rankdata

from ripcord.detect.accuracy import same_label
from ripcord.detect.base import Reading
from ripcord.detect.labels import PENDING_LIMIT, LateLabelDetector
from ripcord.detect.windows import Z_99, require_choice, require_number
from ripcord.events import FeatureValue, InferenceEvent
from ripcord.sop.schema import DetectorSpec, ModelSop

METRICS = ("precision", "recall", "f1", "roc_auc")
#: No SLA names these. 0.8 matches a typical accuracy floor for the rate metrics; an AUC
#: under 0.7 is the usual line below which a score no longer discriminates acceptably.
DEFAULT_THRESHOLDS = {"precision": 0.8, "recall": 0.8, "f1": 0.8, "roc_auc": 0.7}
#: How an event's `confidence` reads as a score of the positive class (for ROC AUC):
#: `predicted` - the probability of the predicted class (the usual meaning), so the
#: positive-class score is c when the positive class was predicted and 1 - c otherwise;
#: `positive` - already the probability of the positive class.
SCORES = ("predicted", "positive")


class Kept(NamedTuple):
    predicted_positive: bool
    score: float | None  # the positive-class score, for ROC AUC


class Outcome(NamedTuple):
    predicted_positive: bool
    actual_positive: bool
    score: float | None


def wilson(hits: float, n: float, direction: str) -> float:
    """Wilson score bound (99 %, one-sided) on a ratio hits / n; `n` may be fractional."""
    p, z2 = hits / n, Z_99 * Z_99
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_99 * math.sqrt(max(p * (1 - p), 0.0) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half if direction == "above" else centre + half


def roc_auc(actual: Sequence[bool], scores: Sequence[float]) -> float:
    """ROC AUC by the Mann-Whitney rank sum, ties counted half (what sklearn computes)."""
    ranks = rankdata(np.asarray(scores, dtype=float))
    positive = np.asarray(actual, dtype=bool)
    n1 = int(positive.sum())
    n0 = positive.size - n1
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc_upper_bound(auc: float, n1: int, n0: int) -> float:
    """Upper 99 % bound by Hanley & McNeil's (1982) standard error of the AUC."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0)
    return min(1.0, auc + Z_99 * math.sqrt(max(var, 0.0)))


class ClassificationQualityDetector(LateLabelDetector[Kept, Outcome]):
    """One of precision, recall, F1 or ROC AUC (`metric`, default "f1") of the class
    `positive` (default 1) over the last `window` labelled champion predictions; bad when
    *below* threshold (default by metric: 0.8, or 0.7 for ROC AUC).

    Labels and predictions compare tolerantly (1, "1" and 1.0 are one class). ROC AUC scores
    each event by its `confidence` read as `score` says ("predicted" by default, see SCORES);
    events without a confidence are skipped under it. A metric undefined on the window
    (precision with nothing predicted positive, recall or AUC with no actual positive, AUC
    with no actual negative) gives no reading rather than a made-up 0. A breach needs the
    99 % upper bound under the threshold too (Wilson for the rates, F1 as TP over
    TP + (FP + FN) / 2; Hanley-McNeil for AUC). `pending_limit` and `min_labels` bound the
    label join (see `LateLabelDetector`).
    """

    family = "classification_quality"

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None = None,
        metric: str = "f1",
        positive: FeatureValue = 1,
        score: str = "predicted",
        pending_limit: int = PENDING_LIMIT,
        min_labels: int | None = None,
    ) -> None:
        self.metric = require_choice("metric", metric, METRICS)
        threshold = DEFAULT_THRESHOLDS[self.metric] if threshold is None else threshold
        super().__init__(
            name=name, window=window, threshold=threshold, pending_limit=pending_limit,
            min_labels=min_labels,
        )  # fmt: skip
        require_number("threshold", self.threshold, low=0.0, high=1.0)
        if not isinstance(positive, str | int | float) or (
            isinstance(positive, float) and not math.isfinite(positive)
        ):
            raise ValueError(f"positive: {positive!r} must be a class label (text or number)")
        self.positive = positive
        self.score = require_choice("score", score, SCORES)

    @classmethod
    def threshold_for(cls, spec: DetectorSpec, model: ModelSop) -> float | None:
        if spec.threshold is not None:
            return spec.threshold
        return DEFAULT_THRESHOLDS.get(str(spec.params.get("metric", "f1")))

    def _keep(self, event: InferenceEvent) -> Kept | None:
        predicted = same_label(event.prediction, self.positive)
        c = event.confidence
        if c is None:
            return None if self.metric == "roc_auc" else Kept(predicted, None)
        return Kept(predicted, c if predicted or self.score == "positive" else 1.0 - c)

    def _score(self, kept: Kept, label: FeatureValue) -> Outcome:
        return Outcome(kept.predicted_positive, same_label(label, self.positive), kept.score)

    def _read(self, outcomes: Sequence[Outcome]) -> Reading | None:
        tp = sum(1 for o in outcomes if o.predicted_positive and o.actual_positive)
        fp = sum(1 for o in outcomes if o.predicted_positive and not o.actual_positive)
        fn = sum(1 for o in outcomes if not o.predicted_positive and o.actual_positive)
        n = len(outcomes)
        evidence: dict[str, Any] = {
            "positive": self.positive,
            "tp": tp, "fp": fp, "fn": fn, "tn": n - tp - fp - fn,
            **self._join_evidence(),
        }  # fmt: skip
        if tp + fp:
            evidence["precision"] = tp / (tp + fp)
        if tp + fn:
            evidence["recall"] = tp / (tp + fn)
        if tp + fp + fn:
            evidence["f1"] = 2 * tp / (2 * tp + fp + fn)
        if self.metric == "roc_auc":
            return self._auc_reading(outcomes, evidence)
        if self.metric not in evidence:
            return None  # undefined on this window
        value = float(evidence[self.metric])
        hits, trials = {
            "precision": (tp, tp + fp),
            "recall": (tp, tp + fn),
            "f1": (tp, tp + (fp + fn) / 2),
        }[self.metric]
        bound = wilson(hits, trials, "below")
        evidence["upper_bound_99"] = bound
        return Reading(self.metric, value, self.threshold, "below", n, evidence, bound)

    def _auc_reading(self, outcomes: Sequence[Outcome], evidence: dict[str, Any]) -> Reading | None:
        scored = [(o.actual_positive, o.score) for o in outcomes if o.score is not None]
        n1 = sum(1 for actual, _ in scored if actual)
        n0 = len(scored) - n1
        if not n1 or not n0:
            return None  # one class only: no ranking to judge
        auc = roc_auc([a for a, _ in scored], [s for _, s in scored if s is not None])
        bound = auc_upper_bound(auc, n1, n0)
        evidence.update(roc_auc=auc, actual_positives=n1, actual_negatives=n0)
        evidence["upper_bound_99"] = bound
        return Reading("roc_auc", auc, self.threshold, "below", len(scored), evidence, bound)
