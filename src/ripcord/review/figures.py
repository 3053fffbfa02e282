"""Incident figures (pure): time to detect, acknowledge, contain and recover, and the
feature-by-feature comparison of the incident window with the baseline before it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from scipy import stats


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


@dataclass(frozen=True)
class Figures:
    """Every figure is measured from when the fault began (the deploy it followed)."""

    time_to_detect_s: float | None
    time_to_acknowledge_s: float | None  # from detection
    time_to_contain_s: float | None
    time_to_recover_s: float | None

    @classmethod
    def of(cls, incident: Any) -> Figures:
        return cls(
            seconds(incident.started_at, incident.detected_at),
            seconds(incident.detected_at, incident.acknowledged_at),
            seconds(incident.started_at, incident.contained_at),
            seconds(incident.started_at, incident.resolved_at),
        )


@dataclass(frozen=True)
class FeatureShift:
    feature: str
    baseline_mean: float
    window_mean: float
    shift_sd: float  # difference of means in baseline standard deviations
    ks: float  # two-sample Kolmogorov-Smirnov statistic
    p_value: float  # its p-value: small windows give honest, wide uncertainty

    @property
    def moved(self) -> bool:
        return self.p_value < 0.01


def feature_shifts(
    baseline: Sequence[Mapping[str, Any]], window: Sequence[Mapping[str, Any]], top: int = 5
) -> list[FeatureShift]:
    """Numeric columns ranked by how surely the window differs from the baseline (KS)."""
    if not baseline or not window:
        return []
    shifts = []
    for name in baseline[0]:
        b = np.array([r[name] for r in baseline if _number(r.get(name))], dtype=float)
        w = np.array([r[name] for r in window if _number(r.get(name))], dtype=float)
        if len(b) < 2 or len(w) < 2:
            continue
        test = stats.ks_2samp(b, w)
        sd = float(b.std()) or 1.0
        shift = (float(w.mean()) - float(b.mean())) / sd
        shifts.append(
            FeatureShift(
                name,
                float(b.mean()),
                float(w.mean()),
                shift,
                float(test.statistic),
                float(test.pvalue),
            )
        )
    shifts.sort(key=lambda s: (s.p_value, -s.ks))
    return shifts[:top]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
