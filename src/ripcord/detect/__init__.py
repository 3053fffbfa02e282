"""Detectors: one module per family, a shared base (`base`) and the registry that maps an
SOP entry's `type` to its family.

There is no import-time global registry: the app builds one with `default_registry()` and
passes it down, and may register its own families on it.
"""

from __future__ import annotations

from ripcord.detect.accuracy import AccuracyDetector
from ripcord.detect.base import Detector, DetectorRegistry, Reading, Reference, Signal
from ripcord.detect.business import BusinessRateDetector
from ripcord.detect.changepoint import (
    ChangePointDetector,
    CusumDetector,
    PageHinkleyDetector,
)
from ripcord.detect.classification import ClassificationQualityDetector
from ripcord.detect.confidence import ConfidenceDetector
from ripcord.detect.contract import ContractDetector
from ripcord.detect.data_quality import DataQualityDetector
from ripcord.detect.drift import DriftDetector, PredictionDriftDetector
from ripcord.detect.error_rate import ErrorRateDetector
from ripcord.detect.fairness import FairnessDetector
from ripcord.detect.feature_drift import FeatureDriftDetector
from ripcord.detect.feedback import FeedbackPoisoningDetector, FeedbackSpikeDetector
from ripcord.detect.latency import LatencyDetector
from ripcord.detect.llm_quality import (
    GroundednessDetector,
    OutputLengthDetector,
    RefusalRateDetector,
)
from ripcord.detect.llm_safety import PiiDetector, PolicyPhraseDetector
from ripcord.detect.regression import RegressionErrorDetector
from ripcord.detect.shadow import ShadowDisagreementDetector
from ripcord.detect.throughput import ThroughputDetector
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
    ClassificationQualityDetector,
    RegressionErrorDetector,
    DataQualityDetector,
    ThroughputDetector,
    FeedbackSpikeDetector,
    FeedbackPoisoningDetector,
    BusinessRateDetector,
    FairnessDetector,
    PiiDetector,
    PolicyPhraseDetector,
    RefusalRateDetector,
    OutputLengthDetector,
    GroundednessDetector,
    ShadowDisagreementDetector,
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
    "BusinessRateDetector",
    "ChangePointDetector",
    "ClassificationQualityDetector",
    "ConfidenceDetector",
    "ContractDetector",
    "CusumDetector",
    "DataQualityDetector",
    "Detector",
    "DetectorRegistry",
    "DriftDetector",
    "ErrorRateDetector",
    "FairnessDetector",
    "FeatureDriftDetector",
    "FeedbackPoisoningDetector",
    "FeedbackSpikeDetector",
    "GroundednessDetector",
    "LatencyDetector",
    "OutputLengthDetector",
    "PageHinkleyDetector",
    "PiiDetector",
    "PolicyPhraseDetector",
    "PredictionDriftDetector",
    "Reading",
    "Reference",
    "RefusalRateDetector",
    "RegressionErrorDetector",
    "ShadowDisagreementDetector",
    "Signal",
    "ThroughputDetector",
    "WindowedDetector",
    "default_registry",
]
