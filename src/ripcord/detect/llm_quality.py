"""LLM reply quality: refusals, length anomalies, and groundedness against the context.

All three read the model's own replies (`champion` events whose prediction is a string):
a chat model can keep answering fast and error-free while it refuses half its questions,
rambles, or makes up what the retrieved context does not say.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ripcord.detect.base import Reading, Reference
from ripcord.detect.stats import ks_pvalue, ks_statistic
from ripcord.detect.text import (
    DEFAULT_REFUSALS,
    TextDetector,
    groundedness,
    normalise,
    reply_text,
    word_count,
)
from ripcord.detect.windows import (
    mean_bound,
    rate_bound,
    require_choice,
    require_number,
)
from ripcord.events import InferenceEvent
from ripcord.sop.schema import DetectorSpec, ModelSop


def _default(spec: DetectorSpec, defaults: dict[str, float], param: str, default: str) -> float:
    """The threshold of an entry, or the default of the variant its params choose."""
    if spec.threshold is not None:
        return spec.threshold
    return defaults.get(str(spec.params.get(param, default)), defaults[default])


class RefusalRateDetector(TextDetector[str]):
    """Share of the last `window` replies that are refusals; bad *above* threshold
    (default 0.1). `phrases` (default `DEFAULT_REFUSALS`) are matched case-insensitively
    anywhere in the reply, curly quotes straightened. Evidence counts refusals per phrase.
    """

    family = "refusal_rate"
    default_threshold: ClassVar[float] = 0.1

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None = None,
        phrases: Sequence[str] = DEFAULT_REFUSALS,
        min_events: int | None = None,
    ) -> None:
        threshold = self.default_threshold if threshold is None else threshold
        super().__init__(name=name, window=window, threshold=threshold, min_events=min_events)
        require_number("threshold", self.threshold, low=0.0, high=1.0)
        if (
            isinstance(phrases, str)
            or not phrases
            or not all(isinstance(p, str) and p.strip() for p in phrases)
        ):
            raise ValueError(f"phrases: {phrases!r} must be a non-empty list of non-empty text")
        self.phrases = tuple(normalise(p) for p in phrases)

    def _take(self, event: InferenceEvent) -> str | None:
        reply = reply_text(event)
        if reply is None:
            return None
        text = normalise(reply)
        return next((p for p in self.phrases if p in text), "")

    def _read(self, values: Sequence[str]) -> Reading:
        phrases = Counter(p for p in values if p)
        refusals = sum(phrases.values())
        rate = refusals / len(values)
        evidence: dict[str, Any] = {
            "refusal_rate": rate,
            "refusals": refusals,
            "count": len(values),
            "phrases": dict(phrases.most_common()),
        }
        bound = rate_bound(refusals, len(values), "above")
        evidence["lower_bound_99"] = bound
        return Reading("refusal_rate", rate, self.threshold, "above", len(values), evidence, bound)


UNITS = ("words", "chars")


def reply_length(reply: str, unit: str) -> int:
    return word_count(reply) if unit == "words" else len(reply)


class OutputLengthDetector(TextDetector[int]):
    """Reply lengths of the last `window` replies against the frozen reference's replies,
    by the two-sample KS statistic D; bad *above* threshold (default 0.2).

    KS rather than a z on the mean: D grows with the share of replies whose length moved
    (rambling, truncated, empty), either way, and one 5,000-word reply moves it by only
    1 / window. Like drift, it reads only once the reference has frozen (with at least
    `min(window, 30)` text replies) and the window is full: a KS D on a small window is
    noise (at 30 replies against 500, D reaches 0.2 by chance about one time in five).
    `unit` is "words" (default, whitespace-separated) or "chars".
    """

    family = "output_length"
    default_threshold: ClassVar[float] = 0.2

    def __init__(
        self,
        *,
        name: str,
        window: int,
        reference: Reference,
        threshold: float | None = None,
        unit: str = "words",
    ) -> None:
        threshold = self.default_threshold if threshold is None else threshold
        super().__init__(name=name, window=window, threshold=threshold, min_events=window)
        require_number("threshold", self.threshold, low=0.0, high=1.0)
        self.unit = require_choice("unit", unit, UNITS)
        if not isinstance(reference, Reference):
            raise ValueError(f"reference: {type(reference).__name__} must be a Reference")
        self.reference = reference
        self._baseline: np.ndarray[Any, np.dtype[np.float64]] | None = None

    def _take(self, event: InferenceEvent) -> int | None:
        reply = reply_text(event)
        return None if reply is None else reply_length(reply, self.unit)

    def check(self) -> Reading | None:
        if self._baseline is None and self.reference.frozen:
            lengths = [reply_length(p, self.unit) for p in self.reference.predictions
                       if isinstance(p, str)]  # fmt: skip
            self._baseline = np.sort(np.asarray(lengths, dtype=float))
        if self._baseline is None or self._baseline.size < min(self.window, 30):
            return None
        return super().check()

    def _read(self, values: Sequence[int]) -> Reading:
        assert self._baseline is not None  # check() reads only with a baseline
        window = np.asarray(values, dtype=float)
        base = self._baseline
        d = ks_statistic(base, window)
        window_median, base_median = float(np.median(window)), float(np.median(base))
        evidence = {
            "ks_d": d,
            "p_value": ks_pvalue(d, base.size, window.size),
            "unit": self.unit,
            "window_mean": float(window.mean()),
            "window_median": window_median,
            "window_p95": float(np.quantile(window, 0.95)),
            "reference_mean": float(base.mean()),
            "reference_median": base_median,
            "reference_p95": float(np.quantile(base, 0.95)),
            "share_empty": float(np.mean(window == 0)),
            "reference_count": int(base.size),
            "longer_or_shorter": "longer" if window_median >= base_median else "shorter",
        }
        return Reading("length_ks", d, self.threshold, "above", window.size, evidence)


GROUNDEDNESS_METRICS = ("mean", "ungrounded_rate")
GROUNDEDNESS_THRESHOLDS = {"mean": 0.7, "ungrounded_rate": 0.2}


class GroundednessDetector(TextDetector[float]):
    """How well the last `window` replies are supported by the context they were given.

    Each reply scores the share of its content words found in its context
    (`ripcord.detect.text.groundedness`: a lexical proxy, documented there); the context
    is the feature named by `context_feature` (default "context"). Replies without a text
    context, or without content words, are skipped. `metric` "mean" (default) reads the
    mean score, bad *below* threshold (default 0.7); "ungrounded_rate" reads the share of
    replies scoring under `min_score` (default 0.5), bad *above* threshold (default 0.2),
    the SPEC's "hallucination rate".
    """

    family = "groundedness"

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None = None,
        metric: str = "mean",
        context_feature: str = "context",
        min_score: float = 0.5,
        min_events: int | None = None,
    ) -> None:
        self.metric = require_choice("metric", metric, GROUNDEDNESS_METRICS)
        threshold = GROUNDEDNESS_THRESHOLDS[self.metric] if threshold is None else threshold
        super().__init__(name=name, window=window, threshold=threshold, min_events=min_events)
        require_number("threshold", self.threshold, low=0.0, high=1.0)
        if not isinstance(context_feature, str) or not context_feature:
            raise ValueError(f"context_feature: {context_feature!r} must be a feature name")
        self.context_feature = context_feature
        self.min_score = require_number("min_score", min_score, low=0.0, high=1.0)

    @classmethod
    def threshold_for(cls, spec: DetectorSpec, model: ModelSop) -> float | None:
        return _default(spec, GROUNDEDNESS_THRESHOLDS, "metric", "mean")

    def _take(self, event: InferenceEvent) -> float | None:
        reply = reply_text(event)
        context = event.features.get(self.context_feature)
        if reply is None or not isinstance(context, str):
            return None
        return groundedness(reply, context)

    def _read(self, values: Sequence[float]) -> Reading:
        scores = np.asarray(values, dtype=float)
        ungrounded = int(np.sum(scores < self.min_score))
        n = scores.size
        evidence: dict[str, Any] = {
            "mean_groundedness": float(scores.mean()),
            "ungrounded_rate": ungrounded / n,
            "ungrounded": ungrounded,
            "min_score": self.min_score,
            "p10_groundedness": float(np.quantile(scores, 0.10)),
            "count": n,
        }
        if self.metric == "mean":
            value, bound = evidence["mean_groundedness"], mean_bound(values, "below")
            evidence["upper_bound_99"] = bound
            return Reading("mean_groundedness", value, self.threshold, "below", n, evidence, bound)
        value, bound = evidence["ungrounded_rate"], rate_bound(ungrounded, n, "above")
        evidence["lower_bound_99"] = bound
        return Reading("ungrounded_rate", value, self.threshold, "above", n, evidence, bound)
