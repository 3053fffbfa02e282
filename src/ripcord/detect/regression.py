"""Regression error from late labels: MAE or RMSE of a numeric prediction.

An error has the unit of the target (euros, minutes), so no threshold fits every model. An
explicit threshold is used as given; without one the detector learns what is normal for the
version: the error over its first full window of labels is the baseline, frozen, and the
reading is bad once the error exceeds `tolerance` times it (1.5: half again as wrong).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ripcord.detect.accuracy import as_float
from ripcord.detect.base import Reading
from ripcord.detect.labels import PENDING_LIMIT, LateLabelDetector
from ripcord.detect.windows import mean_bound, require_choice, require_number
from ripcord.events import FeatureValue, InferenceEvent, LabelEvent

METRICS = ("mae", "rmse")
DEFAULT_TOLERANCE = 1.5


def _finite(value: FeatureValue) -> float | None:
    number = None if isinstance(value, bool) else as_float(value)
    return number if number is not None and math.isfinite(number) else None


class RegressionErrorDetector(LateLabelDetector[float, float]):
    """MAE or RMSE (`metric`, default "mae") over the last `window` labelled champion
    predictions; bad when *above* threshold.

    Without a threshold the threshold is `tolerance` (default 1.5) times the same metric on
    the first `window` labelled outcomes, frozen when they are in; no reading comes before.
    Such a baseline is only as good as the version's first labels: where a golden-set error
    is known, set the threshold from it instead. Predictions and labels that are not finite
    numbers (bools included) are skipped and counted. A breach needs the 99 % lower bound of
    the mean (absolute or squared) error past the threshold too. Evidence carries both
    metrics and the mean signed error (prediction - label), which tells bias from noise.
    `pending_limit` and `min_labels` bound the label join (see `LateLabelDetector`).
    """

    family = "regression_error"

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None = None,
        metric: str = "mae",
        tolerance: float = DEFAULT_TOLERANCE,
        pending_limit: int = PENDING_LIMIT,
        min_labels: int | None = None,
    ) -> None:
        self.metric = require_choice("metric", metric, METRICS)
        self.relative = threshold is None
        super().__init__(
            name=name, window=window, threshold=math.inf if threshold is None else threshold,
            pending_limit=pending_limit, min_labels=min_labels,
        )  # fmt: skip
        if not self.relative:
            require_number("threshold", self.threshold, low=0.0, high=math.inf, open_=True)
        self.tolerance = require_number("tolerance", tolerance, low=1.0, high=1e6)
        self.baseline: float | None = None

    def observe_label(self, label: LabelEvent) -> None:
        super().observe_label(label)
        if self.relative and self.baseline is None and len(self._outcomes) == self.window:
            self.baseline = self._metric(self._outcomes)
            self.threshold = self.tolerance * self.baseline

    def reset(self) -> None:
        super().reset()
        if self.relative:
            self.baseline = None
            self.threshold = math.inf

    def _keep(self, event: InferenceEvent) -> float | None:
        return _finite(event.prediction)

    def _score(self, kept: float, label: FeatureValue) -> float | None:
        truth = _finite(label)
        return None if truth is None else kept - truth

    def _metric(self, errors: Sequence[float]) -> float:
        data = np.asarray(errors, dtype=float)
        if self.metric == "mae":
            return float(np.mean(np.abs(data)))
        return float(np.sqrt(np.mean(data * data)))

    def _read(self, outcomes: Sequence[float]) -> Reading | None:
        if self.relative and self.baseline is None:
            return None  # no threshold yet
        data = np.asarray(outcomes, dtype=float)
        absolute = np.abs(data)
        mae, rmse = float(absolute.mean()), float(np.sqrt(np.mean(data * data)))
        if self.metric == "mae":
            value, bound = mae, mean_bound(absolute.tolist(), "above")
        else:
            value = rmse
            bound = math.sqrt(max(mean_bound((data * data).tolist(), "above"), 0.0))
        evidence = {
            "mae": mae,
            "rmse": rmse,
            "mean_error": float(data.mean()),
            "baseline": self.baseline,
            "tolerance": self.tolerance if self.relative else None,
            **self._join_evidence(),
            "lower_bound_99": bound,
        }
        return Reading(self.metric, value, self.threshold, "above", data.size, evidence, bound)
