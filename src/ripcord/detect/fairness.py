"""Fairness across a protected attribute carried in the events' segment (SPEC scenario 7).

Three standard measures over the groups of `segment[attribute]`, on the last `window`
champion events:

- demographic parity difference: the largest gap between two groups' positive-prediction
  rates (0 is parity);
- equal-opportunity difference: the largest gap between two groups' true-positive rates,
  P(predicted positive | actually positive), from late labels joined by request id as the
  accuracy family does (labels close its window, not predictions);
- disparate-impact ratio: the lowest positive rate over the highest; under 0.8 fails the
  four-fifths rule of the US EEOC's Uniform Guidelines (29 CFR 1607.4(D)).

All three are computed and reported; `metric` chooses the one that is judged. Groups with
fewer than `min_group_size` events (actual positives, for equal opportunity) are left out
and listed in the evidence: a group of five says nothing about bias. A gap is judged by
its one-sided 99 % bound (Newcombe's interval for the differences, MOVER-R for the ratio,
both from the groups' Wilson bounds), so noise between two groups of a hundred does not
page anyone.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ripcord.detect.accuracy import same_label
from ripcord.detect.base import Detector, Reading
from ripcord.detect.labels import PENDING_LIMIT
from ripcord.detect.windows import rate_bound, require_choice, require_int, require_number
from ripcord.events import FeatureValue, InferenceEvent, LabelEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop
from ripcord.sop.severity import Direction

METRICS = ("disparate_impact", "demographic_parity", "equal_opportunity")
DEFAULT_THRESHOLDS = {"disparate_impact": 0.8, "demographic_parity": 0.1, "equal_opportunity": 0.1}
DIRECTIONS: dict[str, Direction] = {
    "disparate_impact": "below",
    "demographic_parity": "above",
    "equal_opportunity": "above",
}
#: Events a group needs before it is compared, by default (capped at half the window).
MIN_GROUP_SIZE = 30


@dataclass(frozen=True)
class Rate:
    """One group's hits out of n, with its 99 % Wilson bounds."""

    hits: int
    n: int

    @property
    def value(self) -> float:
        return self.hits / self.n

    @property
    def lower(self) -> float:
        return rate_bound(self.hits, self.n, "above")

    @property
    def upper(self) -> float:
        return rate_bound(self.hits, self.n, "below")


def gap(rates: Mapping[str, Rate]) -> tuple[float, float, str, str]:
    """(largest gap, its 99 % lower bound, highest group, lowest group). The bound is
    Newcombe's hybrid score interval for a difference of proportions (Statistics in
    Medicine 17, 1998, method 10), built from the two groups' Wilson bounds."""
    high = max(rates, key=lambda g: (rates[g].value, g))
    low = min(rates, key=lambda g: (rates[g].value, g))
    top, bottom = rates[high], rates[low]
    value = top.value - bottom.value
    half = math.hypot(top.value - top.lower, bottom.upper - bottom.value)
    return value, max(0.0, value - half), high, low


def impact_ratio(rates: Mapping[str, Rate]) -> tuple[float, float, str, str]:
    """(lowest rate / highest rate, its 99 % upper bound, highest group, lowest group);
    1.0 when no group has a positive at all (everyone is treated alike).

    The bound is the MOVER-R limit for a ratio of proportions (Donner and Zou, Statistical
    Methods in Medical Research 21, 2012) from the groups' Wilson bounds: the largest ratio
    r for which the Newcombe interval of p_low - r * p_high still reaches 0."""
    _, _, high, low = gap(rates)
    top, bottom = rates[high], rates[low]
    ratio = bottom.value / top.value if top.hits else 1.0
    p1, u1, p2, l2 = bottom.value, bottom.upper, top.value, top.lower
    a = l2 * (2 * p2 - l2)
    if a <= 0:
        return ratio, 1.0, high, low
    root = math.sqrt(max(0.0, (p1 * p2) ** 2 - a * u1 * (2 * p1 - u1)))
    return ratio, min(1.0, max(ratio, (p1 * p2 + root) / a)), high, low


class FairnessDetector(Detector):
    """Gap between the groups of `segment[attribute]` (default "group") on the last `window`
    champion events; `metric` "disparate_impact" (default, bad *below* 0.8),
    "demographic_parity" or "equal_opportunity" (bad *above* 0.1).

    `positive` (default 1) is the favourable prediction (and label), compared as the
    accuracy family compares labels ("1", 1 and 1.0 are one class). `min_group_size`
    defaults to min(30, window // 2). Events without the attribute are counted in the
    evidence (since the last reset), never guessed. `pending_limit` (default 10,000)
    bounds the predictions waiting for a label.
    """

    family = "fairness"
    #: two groups of 500: a disparate-impact ratio that noise alone keeps near 1 (its SD
    #: about 0.1 at a 30 % positive rate), where two groups of 100 swing by 0.2 and reach
    #: 0.8 on a calm stream (measured: 6 breached reads in 100,000 events at window 200)
    default_window = 1000

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None = None,
        metric: str = "disparate_impact",
        attribute: str = "group",
        positive: FeatureValue = 1,
        min_group_size: int | None = None,
        pending_limit: int = PENDING_LIMIT,
    ) -> None:
        self.metric = require_choice("metric", metric, METRICS)
        threshold = DEFAULT_THRESHOLDS[self.metric] if threshold is None else threshold
        super().__init__(name=name, window=window, threshold=threshold)
        require_number("threshold", self.threshold, low=0.0, high=1.0)
        if not isinstance(attribute, str) or not attribute:
            raise ValueError(f"attribute: {attribute!r} must be a segment key")
        if positive is None or not isinstance(positive, str | int | float):
            raise ValueError(f"positive: {positive!r} must be a class (text or number)")
        self.attribute, self.positive = attribute, positive
        self.min_group_size = (
            min(MIN_GROUP_SIZE, max(1, window // 2))
            if min_group_size is None
            else require_int("min_group_size", min_group_size, low=1, high=window)
        )
        self.pending_limit = require_int("pending_limit", pending_limit, low=1)
        self._served: deque[tuple[str, bool]] = deque(maxlen=window)
        self._labelled: deque[tuple[str, bool, bool]] = deque(maxlen=window)
        self._pending: OrderedDict[str, tuple[str, bool]] = OrderedDict()
        self._missing = 0

    @classmethod
    def threshold_for(cls, spec: DetectorSpec, model: ModelSop) -> float | None:
        if spec.threshold is not None:
            return spec.threshold
        return DEFAULT_THRESHOLDS.get(str(spec.params.get("metric", METRICS[0])), 0.8)

    def observe(self, event: InferenceEvent) -> None:
        if event.route is not Route.CHAMPION or event.prediction is None:
            return
        group = event.segment.get(self.attribute)
        if group is None:
            self._missing += 1
            return
        entry = (group, same_label(event.prediction, self.positive))
        self._served.append(entry)
        self._pending[event.request_id] = entry
        self._pending.move_to_end(event.request_id)
        if len(self._pending) > self.pending_limit:
            self._pending.popitem(last=False)

    def observe_label(self, label: LabelEvent) -> None:
        entry = self._pending.pop(label.request_id, None)
        if entry is not None and label.label is not None:
            self._labelled.append((*entry, same_label(label.label, self.positive)))

    def reset(self) -> None:
        self._served.clear()
        self._labelled.clear()
        self._pending.clear()
        self._missing = 0

    def _rates(self) -> tuple[dict[str, Rate], dict[str, Rate]]:
        """(positive rate per group, true-positive rate per group) over the windows."""
        served, positive = Counter[str](), Counter[str]()
        for group, predicted in self._served:
            served[group] += 1
            positive[group] += predicted
        actual, caught = Counter[str](), Counter[str]()
        for group, predicted, truth in self._labelled:
            if truth:
                actual[group] += 1
                caught[group] += predicted
        rates = {g: Rate(positive[g], n) for g, n in sorted(served.items())}
        tprs = {g: Rate(caught[g], n) for g, n in sorted(actual.items())}
        return rates, tprs

    def _big(self, rates: Mapping[str, Rate]) -> dict[str, Rate]:
        return {g: r for g, r in rates.items() if r.n >= self.min_group_size}

    def check(self) -> Reading | None:
        rates, tprs = self._rates()
        big_rates, big_tprs = self._big(rates), self._big(tprs)
        judged = big_tprs if self.metric == "equal_opportunity" else big_rates
        if len(judged) < 2:
            return None
        measures: dict[str, float | None] = dict.fromkeys(METRICS)
        if len(big_rates) >= 2:
            measures["demographic_parity"] = gap(big_rates)[0]
            measures["disparate_impact"] = impact_ratio(big_rates)[0]
        if len(big_tprs) >= 2:
            measures["equal_opportunity"] = gap(big_tprs)[0]
        measure = impact_ratio if self.metric == "disparate_impact" else gap
        value, bound, high, low = measure(judged)
        whole = self._served if judged is big_rates else self._labelled
        evidence = self._evidence(rates, tprs, judged, measures, (high, low, bound))
        direction = DIRECTIONS[self.metric]
        return Reading(self.metric, value, self.threshold, direction, len(whole), evidence, bound)

    def _evidence(
        self,
        rates: Mapping[str, Rate],
        tprs: Mapping[str, Rate],
        judged: Mapping[str, Rate],
        measures: Mapping[str, float | None],
        extremes: tuple[str, str, float],
    ) -> dict[str, Any]:
        all_groups = rates if judged is not tprs else tprs
        groups = {
            g: {
                "count": r.n,
                "positive_rate": r.value,
                "actual_positives": tprs[g].n if g in tprs else 0,
                "true_positive_rate": tprs[g].value if g in tprs else None,
            }
            for g, r in rates.items()
        }
        high, low, bound = extremes
        return {
            "attribute": self.attribute,
            "metric": self.metric,
            "highest_group": high,
            "lowest_group": low,
            "bound_99": bound,
            "demographic_parity_difference": measures["demographic_parity"],
            "equal_opportunity_difference": measures["equal_opportunity"],
            "disparate_impact_ratio": measures["disparate_impact"],
            "groups": groups,
            "ignored_groups": {g: r.n for g, r in all_groups.items() if g not in judged},
            "min_group_size": self.min_group_size,
            "missing_attribute": self._missing,
            "labelled": len(self._labelled),
        }
