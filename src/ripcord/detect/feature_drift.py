"""Feature drift: what the model is fed, every reference feature against its own baseline.

The shared machinery (the frozen reference's profiles, PSI or KS, the window) is
`ripcord.detect.drift.DriftDetector`'s; this family adds the per-feature comparison, a
matrix path for the numeric columns (`ripcord.detect.columns`, one pass for all of them),
and a ranked evidence of the features that moved.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from ripcord.detect.base import Evidence, Reading, Reference
from ripcord.detect.columns import NumericColumns, NumericDrift
from ripcord.detect.drift import DEFAULT_BINS, TOP_FEATURES, DriftDetector
from ripcord.detect.stats import ColumnDrift, NumericProfile
from ripcord.events import FeatureValue, InferenceEvent


class FeatureDriftDetector(DriftDetector):
    """Drift of what the model is fed: every reference feature is compared on its own, and
    the reading is the largest statistic (so one broken feature is enough to fire).

    Evidence `top_features` ranks up to 5 features by statistic, descending, each as
    {feature, statistic, reference_mean, window_mean, method, kind, p_value, missing}; the
    incident report shows it. Under `method="ks"` categorical features still use PSI (noted
    per feature), against the same threshold. Features absent from the reference are ignored.
    """

    family = "feature_drift"

    def __init__(
        self,
        *,
        name: str,
        window: int,
        reference: Reference,
        threshold: float | None = None,
        method: str = "psi",
        bins: int = DEFAULT_BINS,
    ) -> None:
        super().__init__(
            name=name, window=window, reference=reference, threshold=threshold, method=method,
            bins=bins,
        )  # fmt: skip
        self._window: deque[Mapping[str, FeatureValue]] = deque(maxlen=window)
        #: the numeric columns as a matrix, from the first check after the baseline froze
        self._numeric: NumericColumns | None = None

    def _append(self, event: InferenceEvent) -> None:
        self._window.append(event.features)
        if self._numeric is not None:
            self._numeric.extend((event.features,))

    def _extend(self, events: Sequence[InferenceEvent]) -> None:
        features = [e.features for e in events]
        self._window.extend(features)
        if self._numeric is not None:
            self._numeric.extend(features)

    def _clear(self) -> None:
        self._window.clear()
        if self._numeric is not None:
            self._numeric.clear()

    def _reads_tables(self) -> bool:
        numeric, profiles = self._numeric, self._profiles
        return (
            self.method == "psi"
            and numeric is not None
            and profiles is not None
            and len(numeric.columns) == len(profiles)  # no categorical column beside
            and self._window_full()
        )

    def _take_tables(
        self, champions: Sequence[InferenceEvent], counts: Sequence[int]
    ) -> list[NumericDrift]:
        assert self._numeric is not None
        features = [e.features for e in champions]
        self._window.extend(features)
        return self._numeric.psi_reads(features, counts)

    def _table_reading(self, table: NumericDrift) -> Reading:
        return self._reading_of(table, {})

    def _compute(self) -> Reading | None:
        """The largest statistic now; the evidence (a ranking of every feature) is built
        from this check's arrays only if someone reads it."""
        if not self._window_full():
            return None
        profiles = self._cached_profiles()
        if not profiles:
            return None
        if self._numeric is None:  # numeric columns as a matrix, fed from now on
            numeric = {c: p for c, p in profiles.items() if isinstance(p, NumericProfile)}
            self._numeric = NumericColumns(self.window, numeric)
            self._numeric.extend(list(self._window))
        others = {
            column: profile.compare(self._window_column(column), self.method)
            for column, profile in profiles.items()
            if not isinstance(profile, NumericProfile)
        }
        return self._reading_of(self._numeric.table(self.method), others)

    def _reading_of(self, table: NumericDrift, others: Mapping[str, ColumnDrift]) -> Reading:
        """The largest statistic of the numeric table and the other columns; the ranking
        of every feature is built only if someone reads the evidence."""
        statistics = [d.statistic for d in others.values()]
        if table.statistic.size:
            statistics.append(float(table.statistic.max()))
        value = max(statistics)
        return self._reading(value, Evidence(lambda: self._evidence({**table.drifts(), **others})))

    def _baseline(self) -> Mapping[str, Sequence[object]] | None:
        return self.reference.features if self.reference.frozen else None

    def _window_full(self) -> bool:
        return len(self._window) >= self.window

    def _window_column(self, column: str) -> Sequence[object]:
        return [features.get(column) for features in self._window]

    def _read(self, drifts: Mapping[str, ColumnDrift]) -> Reading:
        value = max(d.statistic for d in drifts.values())
        return self._reading(value, self._evidence(drifts))

    def _reading(self, value: float, evidence: Mapping[str, Any]) -> Reading:
        metric = f"max_feature_{self.method}"
        return Reading(metric, value, self.threshold, "above", len(self._window), evidence)

    def _evidence(self, drifts: Mapping[str, ColumnDrift]) -> dict[str, Any]:
        ranked = sorted(drifts.items(), key=lambda item: (-item[1].statistic, item[0]))
        return {
            "method": self.method,
            "bins": self.bins,
            "top_features": [drift.as_dict(feature) for feature, drift in ranked[:TOP_FEATURES]],
            "drifted_features": [f for f, d in ranked if d.statistic > self.threshold],
            "features_checked": len(ranked),
            "missing": {f: d.missing for f, d in sorted(drifts.items()) if d.missing},
        }
