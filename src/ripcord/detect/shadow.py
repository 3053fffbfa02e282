"""Shadow disagreement: how often the shadow version answers differently from the champion.

The guard sends each request to the serving version and a copy to the shadow version,
whose answer is recorded (route `shadow`) and never served; the SDK and the gateway give
the copy the request id plus ":shadow". The detector pairs the two answers by request id,
whichever comes first, in a bounded map (an answer whose partner never comes is dropped
oldest-first and counted), and reads the disagreement of the last `window` pairs.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from typing import Any, ClassVar

from ripcord.detect.accuracy import as_float, same_label
from ripcord.detect.base import Detector, Reading
from ripcord.detect.labels import PENDING_LIMIT
from ripcord.detect.windows import (
    MIN_EVENTS,
    mean_bound,
    rate_bound,
    require_choice,
    require_int,
    require_number,
)
from ripcord.events import FeatureValue, InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop

COMPARES = ("label", "numeric")
#: A shadow that disagrees on one request in ten is worth a look before it is promoted.
DEFAULT_LABEL_THRESHOLD = 0.1
TOP_CHANGES = 5

#: One side of a pair waiting for the other: (is it the shadow?, prediction, errored?).
Side = tuple[bool, FeatureValue, bool]


class ShadowDisagreementDetector(Detector):
    """Disagreement between champion and shadow over the last `window` request pairs.

    `compare` "label" (default): the share of pairs whose predictions differ (compared as
    the accuracy family compares labels), bad *above* threshold (default 0.1). "numeric":
    the mean absolute difference of numeric predictions, bad *above* a threshold that must
    be given (it is in the prediction's unit). Pairs where either side errored or (numeric)
    is not a number are counted in the evidence, not compared. `shadow_suffix` (default
    ":shadow") is stripped from shadow request ids; `pending_limit` (default 10,000) bounds
    the unpaired answers; `min_pairs` (default min(window, 30)) pairs are needed to read.
    """

    family = "shadow_disagreement"
    #: the traffic the family watches, for the contract suite's seeded streams
    traffic: ClassVar[str] = "shadow"

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None = None,
        compare: str = "label",
        shadow_suffix: str = ":shadow",
        pending_limit: int = PENDING_LIMIT,
        min_pairs: int | None = None,
    ) -> None:
        self.compare = require_choice("compare", compare, COMPARES)
        if threshold is None and self.compare == "label":
            threshold = DEFAULT_LABEL_THRESHOLD
        if threshold is None:
            raise ValueError("threshold: None needs a value with compare numeric (its unit)")
        super().__init__(name=name, window=window, threshold=threshold)
        high = 1.0 if self.compare == "label" else math.inf
        require_number("threshold", self.threshold, low=0.0, high=high)
        if not isinstance(shadow_suffix, str):
            raise ValueError(f"shadow_suffix: {shadow_suffix!r} must be text")
        self.shadow_suffix = shadow_suffix
        self.pending_limit = require_int("pending_limit", pending_limit, low=1)
        self.min_pairs = (
            min(window, MIN_EVENTS)
            if min_pairs is None
            else require_int("min_pairs", min_pairs, low=1, high=window)
        )
        self._pending: OrderedDict[str, Side] = OrderedDict()
        self._pairs: deque[tuple[float, str]] = deque(maxlen=window)  # (value, change)
        self._counts: Counter[str] = Counter()

    @classmethod
    def threshold_for(cls, spec: DetectorSpec, model: ModelSop) -> float | None:
        if spec.threshold is not None or spec.params.get("compare", "label") != "label":
            return spec.threshold
        return DEFAULT_LABEL_THRESHOLD

    def observe(self, event: InferenceEvent) -> None:
        if event.route is Route.SHADOW:
            key, shadow = event.request_id, True
            if self.shadow_suffix and key.endswith(self.shadow_suffix):
                key = key[: -len(self.shadow_suffix)]
        elif event.route is Route.CHAMPION:
            key, shadow = event.request_id, False
        else:
            return
        side = (shadow, event.prediction, event.error is not None or event.prediction is None)
        other = self._pending.get(key)
        if other is not None and other[0] != shadow:
            del self._pending[key]
            self._pair(*((other, side) if shadow else (side, other)))
            return
        self._pending[key] = side  # a retried answer replaces the earlier one
        self._pending.move_to_end(key)
        if len(self._pending) > self.pending_limit:
            self._pending.popitem(last=False)
            self._counts["dropped_unpaired"] += 1

    def _pair(self, champion: Side, shadow: Side) -> None:
        _, served, champion_failed = champion
        _, copied, shadow_failed = shadow
        if champion_failed or shadow_failed:
            self._counts["shadow_errors" if shadow_failed else "champion_errors"] += 1
            return
        if self.compare == "label":
            differ = not same_label(served, copied)
            self._pairs.append((float(differ), f"{served} -> {copied}" if differ else ""))
            return
        left, right = as_float(served), as_float(copied)
        if left is None or right is None or not math.isfinite(left - right):
            self._counts["incomparable"] += 1
            return
        self._pairs.append((abs(left - right), ""))

    def check(self) -> Reading | None:
        n = len(self._pairs)
        if n < self.min_pairs:
            return None
        values = [v for v, _ in self._pairs]
        evidence: dict[str, Any] = {
            "compare": self.compare,
            "pairs": n,
            "pending": len(self._pending),
            **{k: self._counts[k] for k in ("dropped_unpaired", "shadow_errors",
                                              "champion_errors", "incomparable")},
        }  # fmt: skip
        if self.compare == "label":
            differ = int(sum(values))
            changes = Counter(c for _, c in self._pairs if c)
            rate, bound = differ / n, rate_bound(differ, n, "above")
            evidence.update(disagreement_rate=rate, disagreements=differ, lower_bound_99=bound)
            evidence["top_changes"] = dict(changes.most_common(TOP_CHANGES))
            return Reading("disagreement_rate", rate, self.threshold, "above", n, evidence, bound)
        mean, bound = math.fsum(values) / n, mean_bound(values, "above")
        evidence.update(mean_abs_difference=mean, max_abs_difference=max(values))
        evidence["lower_bound_99"] = bound
        return Reading("mean_abs_difference", mean, self.threshold, "above", n, evidence, bound)

    def reset(self) -> None:
        self._pending.clear()
        self._pairs.clear()
        self._counts.clear()
