"""Data quality against the frozen reference: nulls, type changes, out-of-range values and
unseen categories, per feature.

A broken upstream pipeline rarely breaks every field: it nulls one column, sends a number
as text, changes a unit (values leave the range the model was fed) or renames a category.
The input contract catches what its author thought of; this family needs no contract,
because the model's own reference says what its inputs looked like (SPEC scenarios 2, 8).

Each (event, feature) is either fine or broken in exactly one way, checked in this order:
`null` (missing, None or NaN), `type` (a value type other than the reference's: number,
text or bool; ints and floats are both numbers), `range` (a number outside the reference's
[min, max], widened by `range_margin` of its span on each side) or `unseen` (text the
reference never saw). The reference breaks some values too (its own nulls and odd types),
and a fresh sample leaves its range or meets a new category now and then even when nothing
changed: 2 / (n + 1) of numbers do, and about the share of singletons among its text values
do (Good-Turing). That expected share is subtracted, so a feature that is always 10 % null,
or free text such as an id, does not page anyone.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ripcord.detect.base import Detector, Reading, Reference
from ripcord.detect.windows import MIN_EVENTS, rate_bound, require_int, require_number
from ripcord.events import FeatureValue, InferenceEvent, Route

KINDS = ("null", "type", "range", "unseen")
#: No SLA names it; 5 % of requests is where the contract family's SEV-3 starts too.
DEFAULT_THRESHOLD = 0.05
TOP_FEATURES = 5

Problem = tuple[str, str]  # (feature, kind)


def value_type(value: FeatureValue) -> str | None:
    """The value's type, "number", "text" or "bool"; None for a null (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, int | float) else "text"


@dataclass(frozen=True)
class FeatureProfile:
    """What the reference says one feature looks like."""

    type: str | None  # the most common value type; None if always null
    expected: float  # share of values broken by chance, had nothing changed
    low: float = -math.inf
    high: float = math.inf
    categories: frozenset[str] = field(default_factory=frozenset)

    def problem(self, value: FeatureValue, checks: frozenset[str]) -> str | None:
        kind = value_type(value)
        if kind is None:
            return "null" if "null" in checks else None
        if self.type is None:
            return None
        if kind != self.type:
            return "type" if "type" in checks else None
        if kind == "number" and not self.low <= value <= self.high:  # type: ignore[operator]
            return "range" if "range" in checks else None
        if kind == "text" and value not in self.categories:
            return "unseen" if "unseen" in checks else None
        return None


def profile(
    values: Sequence[FeatureValue], margin: float, checks: frozenset[str]
) -> FeatureProfile:
    """A feature's profile from its reference column (None where the event lacked it)."""
    n = len(values)
    types = Counter(value_type(v) for v in values)
    nulls = types.pop(None, 0)
    expected = nulls / n if "null" in checks else 0.0
    if not types:
        return FeatureProfile(None, expected)
    kind, typed = types.most_common(1)[0]
    if "type" in checks:
        expected += (n - nulls - typed) / n
    if kind == "number":
        numbers = [float(v) for v in values if value_type(v) == "number"]  # type: ignore[arg-type]
        low, high = min(numbers), max(numbers)
        span = (high - low) * margin
        if "range" in checks:
            expected += 2 / (len(numbers) + 1) * len(numbers) / n
        return FeatureProfile(kind, expected, low - span, high + span)
    if kind == "text":
        texts = Counter(str(v) for v in values if value_type(v) == "text")
        if "unseen" in checks:
            expected += sum(1 for c in texts.values() if c == 1) / n
        return FeatureProfile(kind, expected, categories=frozenset(texts))
    return FeatureProfile(kind, expected)


class DataQualityDetector(Detector):
    """The worst reference feature's share of broken values over the last `window` events,
    less the share its reference predicts; bad when *above* threshold (default 0.05).

    Every route but `shadow` counts (a shadow copy repeats a served request's input).
    `checks` (default all of null, type, range, unseen) picks the kinds of breakage;
    `range_margin` (default 0) widens the reference range by that share of its span on each
    side. Reads once the reference is frozen and `min_events` (default min(window, 30))
    events are in; a breach needs the 99 % Wilson lower bound of the share past the
    threshold too. Features absent from the reference are ignored (the contract covers
    extra fields). Evidence `worst_features` ranks up to 5 features with the share of each
    kind and what the reference holds.
    """

    family = "data_quality"
    default_threshold = DEFAULT_THRESHOLD

    def __init__(
        self,
        *,
        name: str,
        window: int,
        reference: Reference,
        threshold: float | None = DEFAULT_THRESHOLD,
        checks: Sequence[str] = KINDS,
        range_margin: float = 0.0,
        min_events: int | None = None,
    ) -> None:
        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        super().__init__(name=name, window=window, threshold=threshold)
        require_number("threshold", self.threshold, low=0.0, high=1.0)
        if isinstance(checks, str) or not checks or any(c not in KINDS for c in checks):
            raise ValueError(f"checks: {checks!r} must be a non-empty list of {', '.join(KINDS)}")
        self.checks = frozenset(checks)
        self.range_margin = require_number("range_margin", range_margin, low=0.0, high=100.0)
        self.min_events = (
            min(window, MIN_EVENTS)
            if min_events is None
            else require_int("min_events", min_events, low=1, high=window)
        )
        if not isinstance(reference, Reference):
            raise ValueError(f"reference: {type(reference).__name__} must be a Reference")
        self.reference = reference
        self._profiles: dict[str, FeatureProfile] | None = None
        self._raw: deque[Mapping[str, FeatureValue]] = deque(maxlen=window)  # until frozen
        self._scored: deque[tuple[Problem, ...]] = deque(maxlen=window)
        self._counts: Counter[Problem] = Counter()

    def observe(self, event: InferenceEvent) -> None:
        if event.route is Route.SHADOW:
            return
        if self._ready():
            self._score(event.features)
        else:
            self._raw.append(event.features)

    def _ready(self) -> bool:
        """Whether the profiles are built; builds them, and scores what waited, once the
        reference has frozen."""
        if self._profiles is not None:
            return True
        if not self.reference.frozen:
            return False
        columns = self.reference.features
        self._profiles = {
            name: profile(values, self.range_margin, self.checks)
            for name, values in sorted(columns.items())
        }
        for features in self._raw:
            self._score(features)
        self._raw.clear()
        return True

    def _score(self, features: Mapping[str, FeatureValue]) -> None:
        assert self._profiles is not None
        problems = []
        for name, prof in self._profiles.items():
            kind = prof.problem(features.get(name), self.checks)
            if kind is not None:
                problems.append((name, kind))
        if len(self._scored) == self.window:
            self._counts.subtract(self._scored[0])
        entry = tuple(problems)
        self._scored.append(entry)
        self._counts.update(entry)

    def check(self) -> Reading | None:
        if not self._ready() or len(self._scored) < self.min_events or not self._profiles:
            return None  # (the readiness check first: it scores the events that waited)
        n = len(self._scored)
        broken: Counter[str] = Counter()
        for (feature, _), count in self._counts.items():
            broken[feature] += count
        rows = [self._row(f, p, broken[f], n) for f, p in self._profiles.items()]
        rows.sort(key=lambda r: (-r["excess_share"], r["feature"]))
        worst = rows[0]
        value = max(worst["excess_share"], 0.0)  # fewer breaks than expected is not news
        bound = rate_bound(broken[worst["feature"]], n, "above") - worst["expected_share"]
        evidence = {
            "worst_features": [r for r in rows[:TOP_FEATURES] if r["bad_share"] > 0],
            "bad_features": [r["feature"] for r in rows if r["excess_share"] > self.threshold],
            "features_checked": len(rows),
            "count": n,
            "checks": sorted(self.checks),
            "lower_bound_99": bound,
        }
        return Reading("bad_value_share", value, self.threshold, "above", n, evidence, bound)

    def _row(self, feature: str, prof: FeatureProfile, broken: int, n: int) -> dict[str, Any]:
        row: dict[str, Any] = {
            "feature": feature,
            "excess_share": broken / n - prof.expected,
            "bad_share": broken / n,
            "expected_share": prof.expected,
            **{kind: self._counts[(feature, kind)] / n for kind in sorted(self.checks)},
            "reference_type": prof.type,
        }
        if prof.type == "number":
            row["reference_range"] = [prof.low, prof.high]
        return row

    def reset(self) -> None:
        self._raw.clear()
        self._scored.clear()
        self._counts.clear()  # the profiles stay: the reference is frozen
