"""Prediction and feature drift against a frozen reference baseline.

Both compare the last `window` champion events with the model's `Reference` (the first
served events, frozen once full), by PSI over reference-quantile bins (default, threshold
0.2, the usual "significant shift" level) or by the two-sample KS statistic D (threshold
0.15). The reference's bins and sorted values are computed once, on the first check after it
froze, because the reference never changes afterwards; see `ripcord.detect.stats` for how
missing values and categorical columns are handled. `PredictionDriftDetector` is here;
`FeatureDriftDetector` in `ripcord.detect.feature_drift`.
"""

from __future__ import annotations

import abc
from collections import deque
from collections.abc import Mapping, Sequence
from itertools import accumulate, compress
from typing import Any

from ripcord.detect.base import Detector, Evidence, Reading, Reference
from ripcord.detect.columns import NumericColumns, NumericDrift
from ripcord.detect.stats import ColumnDrift, NumericProfile, Profile, build_profile
from ripcord.detect.windows import require_choice, require_int, require_number
from ripcord.events import FeatureValue, InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop

METHODS = ("psi", "ks")
DEFAULT_THRESHOLDS = {"psi": 0.2, "ks": 0.15}
DEFAULT_BINS = 10
#: Window events needed per PSI bin, so that PSI on unchanged traffic (about (bins - 1) /
#: window) stays well under the 0.2 threshold.
MIN_PER_BIN = 20
TOP_FEATURES = 5


class DriftDetector(Detector):
    """Shared machinery: parameters, the cached reference profiles, and `check()`.

    Parameters: `method` "psi" (default) or "ks"; `bins` (default 10) quantile bins for PSI,
    at most window / 20 under PSI so that noise alone does not reach the threshold;
    `threshold` defaults by method (PSI 0.2, KS D 0.15). Reads only when the baseline is
    frozen and the window is full, so a half-empty window is never compared with a full
    reference.
    """

    #: PSI of a calm window against a 500-event reference is about (bins - 1) x (1 / window
    #: + 1 / 500): at 200 events and 10 bins the largest of a few features reached 0.2
    #: 142 times in 10,000 reads of a calm 100,000-event stream; at 1,000, never
    default_window = 1000

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
        self.method = require_choice("method", method, METHODS)
        threshold = DEFAULT_THRESHOLDS[self.method] if threshold is None else threshold
        super().__init__(name=name, window=window, threshold=threshold)
        high = 1.0 if self.method == "ks" else float("inf")
        require_number("threshold", self.threshold, low=0.0, high=high)
        self.bins = require_int("bins", bins, low=2, high=1000)
        if self.method == "psi" and window < MIN_PER_BIN * self.bins:
            # With no drift at all PSI is about (bins - 1) / window, and an empty bin alone
            # adds ~0.7: a window with few events per bin would page on noise.
            raise ValueError(
                f"bins: {bins!r} needs window >= {MIN_PER_BIN * self.bins} "
                f"({MIN_PER_BIN} events per bin), not {window}"
            )
        if not isinstance(reference, Reference):
            raise ValueError(f"reference: {type(reference).__name__} must be a Reference")
        self.reference = reference
        self._profiles: dict[str, Profile] | None = None
        # The engine checks after every label too, which drift ignores: a reading is kept
        # until the window next changes, so a burst of labels costs nothing.
        self._changes = 0
        self._memo: tuple[int, Reading] | None = None

    @classmethod
    def threshold_for(cls, spec: DetectorSpec, model: ModelSop) -> float | None:
        if spec.threshold is not None:
            return spec.threshold
        return DEFAULT_THRESHOLDS.get(str(spec.params.get("method", "psi")))

    def observe(self, event: InferenceEvent) -> None:
        if event.route is Route.CHAMPION:
            self._append(event)
            self._changes += 1

    def observe_batch(self, events: Sequence[InferenceEvent]) -> None:
        champions = [e for e in events if e.route is Route.CHAMPION]
        if champions:
            self._extend(champions)
            self._changes += len(champions)

    def observe_reads(
        self, events: Sequence[InferenceEvent], stops: Sequence[int]
    ) -> list[Reading | None]:
        """Once the window is full and held as a matrix (PSI on numeric columns only), the
        batch's champions are converted and bucketed once, and each stop's table is read
        from the counts as they stand there; otherwise a batch and a check per stop."""
        if not self._reads_tables():
            return super().observe_reads(events, stops)
        flags = [e.route is Route.CHAMPION for e in events]
        before = list(accumulate(flags, initial=0))
        counts = [before[stop] for stop in stops]
        tables = self._take_tables(list(compress(events, flags)), counts)
        base, readings = self._changes, list[Reading | None]()
        for count, table in zip(counts, tables, strict=True):
            if self._memo is None or self._memo[0] != base + count:  # else `check`'s memo
                self._memo = (base + count, self._table_reading(table))
            readings.append(self._memo[1])
        self._changes = base + before[-1]
        return readings

    def _reads_tables(self) -> bool:
        """Whether `_take_tables` can stand in for batches and checks (see `observe_reads`)."""
        return False

    def _take_tables(
        self, champions: Sequence[InferenceEvent], counts: Sequence[int]
    ) -> list[NumericDrift]:
        """Take the champions; the PSI table after the first `c`, for each of `counts`."""
        raise NotImplementedError

    def _table_reading(self, table: NumericDrift) -> Reading:
        """The reading `check()` gives on a PSI table of the window."""
        raise NotImplementedError

    def reset(self) -> None:
        self._clear()  # the baseline stays frozen
        self._changes += 1

    def check(self) -> Reading | None:
        if self._memo is not None and self._memo[0] == self._changes:
            return self._memo[1]
        reading = self._compute()
        if reading is not None:
            self._memo = (self._changes, reading)
        return reading

    def _compute(self) -> Reading | None:
        if not self._window_full():
            return None
        profiles = self._cached_profiles()
        if not profiles:
            return None
        return self._read(self._compare(profiles))

    def _cached_profiles(self) -> dict[str, Profile] | None:
        """Profiles of the baseline, built once when it has frozen (it never changes after)."""
        if self._profiles is None:
            baseline = self._baseline()
            if baseline is None:
                return None
            built = {
                column: build_profile(values, self.bins) for column, values in baseline.items()
            }
            self._profiles = {c: p for c, p in sorted(built.items()) if p is not None}
        return self._profiles

    def _compare(self, profiles: Mapping[str, Profile]) -> dict[str, ColumnDrift]:
        return {
            column: profile.compare(self._window_column(column), self.method)
            for column, profile in profiles.items()
        }

    @abc.abstractmethod
    def _append(self, event: InferenceEvent) -> None:
        """Take one champion event into the window."""

    def _extend(self, events: Sequence[InferenceEvent]) -> None:
        """Take several champion events, in order (a loop unless a family does better)."""
        for event in events:
            self._append(event)

    @abc.abstractmethod
    def _clear(self) -> None: ...

    @abc.abstractmethod
    def _baseline(self) -> Mapping[str, Sequence[object]] | None:
        """The frozen baseline's columns, or None while it is still filling."""

    @abc.abstractmethod
    def _window_full(self) -> bool: ...

    @abc.abstractmethod
    def _window_column(self, column: str) -> Sequence[object]: ...

    @abc.abstractmethod
    def _read(self, drifts: Mapping[str, ColumnDrift]) -> Reading: ...


class PredictionDriftDetector(DriftDetector):
    """Drift of what the model answers: `on="prediction"` (default) compares predictions
    (numeric ones by bins or KS, others as categories); `on="confidence"` compares
    confidences.

    The shared `Reference` holds no confidences, so for `on="confidence"` the detector
    freezes its own baseline: the first `reference.size` champion confidences it sees
    (kept across `reset()`, like the reference).
    """

    family = "prediction_drift"

    def __init__(
        self,
        *,
        name: str,
        window: int,
        reference: Reference,
        threshold: float | None = None,
        method: str = "psi",
        bins: int = DEFAULT_BINS,
        on: str = "prediction",
    ) -> None:
        super().__init__(
            name=name, window=window, reference=reference, threshold=threshold, method=method,
            bins=bins,
        )  # fmt: skip
        self.on = require_choice("on", on, ("prediction", "confidence"))
        self._window: deque[FeatureValue] = deque(maxlen=window)
        self._confidences: list[float | None] = []  # the own baseline for on="confidence"
        #: numeric answers as a one-column matrix, from the first check after the freeze
        self._numeric: NumericColumns | None = None

    def _append(self, event: InferenceEvent) -> None:
        if self.on == "prediction":
            value = event.prediction
        else:
            value = event.confidence
            if len(self._confidences) < self.reference.size:
                self._confidences.append(value)
        self._window.append(value)
        if self._numeric is not None:
            self._numeric.extend(({self.on: value},))

    def _extend(self, events: Sequence[InferenceEvent]) -> None:
        if self.on == "prediction":
            values = [e.prediction for e in events]
            self._window.extend(values)
            if self._numeric is not None:
                self._numeric.extend([{self.on: v} for v in values])
        else:
            super()._extend(events)

    def _clear(self) -> None:
        self._window.clear()
        if self._numeric is not None:
            self._numeric.clear()

    def _reads_tables(self) -> bool:
        return (
            self.method == "psi"
            and self.on == "prediction"
            and self._numeric is not None
            and self._window_full()
        )

    def _take_tables(
        self, champions: Sequence[InferenceEvent], counts: Sequence[int]
    ) -> list[NumericDrift]:
        assert self._numeric is not None
        values = [e.prediction for e in champions]
        self._window.extend(values)
        return self._numeric.psi_reads([{self.on: v} for v in values], counts)

    def _table_reading(self, table: NumericDrift) -> Reading:
        """`_read(table.drifts())`, its evidence worked out only if someone reads it."""
        metric = f"{self.on}_{table.method}"
        value, count = float(table.statistic[0]), len(table.data)
        evidence = Evidence(lambda: self._read(table.drifts()).evidence)
        return Reading(metric, value, self.threshold, "above", count, evidence)

    def _compare(self, profiles: Mapping[str, Profile]) -> dict[str, ColumnDrift]:
        profile = profiles.get(self.on)
        if not isinstance(profile, NumericProfile):  # categorical answers: counted as text
            return super()._compare(profiles)
        if self._numeric is None:
            self._numeric = NumericColumns(self.window, {self.on: profile})
            self._numeric.extend([{self.on: v} for v in self._window])
        return self._numeric.compare(self.method)

    def _baseline(self) -> Mapping[str, Sequence[object]] | None:
        if self.on == "prediction":
            return {"prediction": self.reference.predictions} if self.reference.frozen else None
        frozen = len(self._confidences) >= self.reference.size
        return {"confidence": self._confidences} if frozen else None

    def _window_full(self) -> bool:
        return len(self._window) >= self.window

    def _window_column(self, column: str) -> Sequence[object]:
        return self._window

    def _read(self, drifts: Mapping[str, ColumnDrift]) -> Reading:
        drift = drifts[self.on]
        evidence: dict[str, Any] = drift.as_dict(self.on)
        del evidence["feature"]
        evidence.update(on=self.on, bins=self.bins, shifts=list(drift.shifts))
        metric = f"{self.on}_{drift.method}"
        return Reading(metric, drift.statistic, self.threshold, "above", drift.count, evidence)
