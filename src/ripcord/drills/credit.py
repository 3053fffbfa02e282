"""A small, real credit-risk model on seeded synthetic data, and its broken successor.

Version 1 is a scikit-learn pipeline trained on correct data. Version 2 is the same
pipeline retrained after an upstream join broke: `late_payments` reached training shuffled
across rows, so version 2 learned to lean on weaker features. It is a plausible bad deploy:
it trains, scores and serves without an error, just worse and less sure.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ripcord.registry.base import SklearnPredictor

FEATURES = ("income_k", "debt_ratio", "age", "tenure_months", "late_payments", "utilization")
REGIONS = ("eu", "us", "apac")
_WEIGHTS = np.array([-0.9, 1.0, -0.3, -0.4, 3.2, 0.8])


def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of features, default labels (0/1) and regions, from a known logistic truth."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(4.0, 0.45, n)
    debt = rng.beta(2.0, 5.0, n)
    age = rng.integers(21, 75, n).astype(float)
    tenure = rng.integers(1, 240, n).astype(float)
    late = rng.poisson(1.2, n).astype(float)
    util = rng.beta(2.0, 3.0, n)
    x = np.column_stack([income, debt, age, tenure, late, util])
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    logit = z @ _WEIGHTS - 0.6
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    regions = rng.choice(np.array(REGIONS), n)
    return x, y, regions


def train(seed: int = 7, broken: bool = False) -> SklearnPredictor:
    x, y, _ = sample(8000, seed)
    if broken:  # the broken join: late_payments no longer belongs to its row
        x = x.copy()
        x[:, FEATURES.index("late_payments")] = np.random.default_rng(seed + 1).permutation(
            x[:, FEATURES.index("late_payments")]
        )
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    pipeline.fit(x, y)
    return SklearnPredictor(pipeline, FEATURES)


def rows(x: np.ndarray) -> list[dict[str, Any]]:
    return [dict(zip(FEATURES, (round(float(v), 4) for v in r), strict=True)) for r in x]


def write_golden(path: Path, n: int = 1000, seed: int = 99) -> Path:
    x, y, _ = sample(n, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*FEATURES, "label"])
        for features, label in zip(rows(x), y, strict=True):
            writer.writerow([*features.values(), int(label)])
    return path


def traffic(seed: int, chunk: int = 500) -> Iterator[tuple[dict[str, Any], int, str]]:
    """Endless live requests: (features, the label that will arrive later, region)."""
    for block in itertools.count():
        x, y, regions = sample(chunk, seed * 100_003 + block)
        for features, label, region in zip(rows(x), y, regions, strict=True):
            yield features, int(label), str(region)
