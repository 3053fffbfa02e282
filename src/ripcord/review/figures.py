"""Incident figures (pure): time to detect, acknowledge, contain and recover, and the
feature-by-feature comparison of the incident window with the baseline before it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np


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
    psi: float


def _psi(baseline: np.ndarray, window: np.ndarray, bins: int = 10) -> float:
    edges = np.unique(np.quantile(baseline, np.linspace(0, 1, bins + 1)[1:-1]))
    ref = np.bincount(np.searchsorted(edges, baseline, side="right"), minlength=len(edges) + 1)
    cur = np.bincount(np.searchsorted(edges, window, side="right"), minlength=len(edges) + 1)
    r = np.clip(ref / ref.sum(), 1e-4, None)
    c = np.clip(cur / cur.sum(), 1e-4, None)
    return float(np.sum((c - r) * np.log(c / r)))


def feature_shifts(
    baseline: Sequence[Mapping[str, Any]], window: Sequence[Mapping[str, Any]], top: int = 5
) -> list[FeatureShift]:
    """Numeric features ranked by how far the window moved from the baseline."""
    if not baseline or not window:
        return []
    shifts = []
    for name in baseline[0]:
        b = np.array([r[name] for r in baseline if _number(r.get(name))], dtype=float)
        w = np.array([r[name] for r in window if _number(r.get(name))], dtype=float)
        if len(b) < 2 or len(w) < 2:
            continue
        sd = float(b.std()) or 1.0
        shift = (float(w.mean()) - float(b.mean())) / sd
        shifts.append(FeatureShift(name, float(b.mean()), float(w.mean()), shift, _psi(b, w)))
    shifts.sort(key=lambda s: (s.psi, abs(s.shift_sd)), reverse=True)
    return shifts[:top]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
