"""Detectors: one module per family, a shared base (`base`) and the registry that maps an
SOP entry's `type` to its family.

There is no import-time global registry: the app builds one with `default_registry()` and
passes it down, and may register its own families on it.
"""

from __future__ import annotations

from ripcord.detect.accuracy import AccuracyDetector
from ripcord.detect.base import Detector, DetectorRegistry, Reading, Reference, Signal
from ripcord.detect.changepoint import (
    ChangePointDetector,
    CusumDetector,
    PageHinkleyDetector,
)
from ripcord.detect.confidence import ConfidenceDetector
from ripcord.detect.contract import ContractDetector
from ripcord.detect.drift import DriftDetector, FeatureDriftDetector, PredictionDriftDetector
from ripcord.detect.error_rate import ErrorRateDetector
from ripcord.detect.latency import LatencyDetector
from ripcord.detect.windows import WindowedDetector

FAMILIES: tuple[type[Detector], ...] = (
    ConfidenceDetector,
    LatencyDetector,
    ErrorRateDetector,
    AccuracyDetector,
    ContractDetector,
    PredictionDriftDetector,
    FeatureDriftDetector,
    CusumDetector,
    PageHinkleyDetector,
)


def default_registry() -> DetectorRegistry:
    """A new registry holding the built-in families."""
    registry = DetectorRegistry()
    for family in FAMILIES:
        registry.register(family)
    return registry


__all__ = [
    "FAMILIES",
    "AccuracyDetector",
    "ChangePointDetector",
    "ConfidenceDetector",
    "ContractDetector",
    "CusumDetector",
    "Detector",
    "DetectorRegistry",
    "DriftDetector",
    "ErrorRateDetector",
    "FeatureDriftDetector",
    "LatencyDetector",
    "PageHinkleyDetector",
    "PredictionDriftDetector",
    "Reading",
    "Reference",
    "Signal",
    "WindowedDetector",
    "default_registry",
]
