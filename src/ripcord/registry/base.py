"""What a registered model is to Ripcord: something that scores a row of features."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Scored:
    """One prediction and how sure the model is of it (None if it cannot say)."""

    prediction: Any
    confidence: float | None = None


class Predictor(Protocol):
    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Scored]: ...


class SklearnPredictor:
    """A fitted scikit-learn classifier with the feature order it was trained on.

    Confidence is the largest class probability, so it means the same for any classifier
    that has `predict_proba`.
    """

    def __init__(self, estimator: Any, features: Sequence[str]) -> None:
        if not hasattr(estimator, "predict_proba"):
            raise ValueError(f"estimator: {type(estimator).__name__} has no predict_proba")
        if not features:
            raise ValueError("features: [] must name at least one feature")
        self.estimator = estimator
        self.features = tuple(features)

    def matrix(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        missing = [f for f in self.features if f not in rows[0]] if rows else []
        if missing:
            raise ValueError(f"features: {missing!r} are missing from the input row")
        return np.array([[float(row[f]) for f in self.features] for row in rows])

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Scored]:
        proba = self.estimator.predict_proba(self.matrix(rows))
        classes = self.estimator.classes_
        best = proba.argmax(axis=1)
        return [Scored(classes[i].item(), float(p[i])) for i, p in zip(best, proba, strict=True)]
