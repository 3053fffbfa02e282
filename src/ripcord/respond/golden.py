"""Golden-set validation: the staging step a rollback target must pass before it serves.

The golden set is a CSV of feature columns plus a label column. A candidate is scored on it
and compared with the model's SLAs: accuracy, mean confidence, p95 single-row latency and
error rate; and, when the SOP names a protected attribute column, the fairness gaps between
its groups (respond/fairness.py). Every comparison is kept as evidence, passed or not.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ripcord.errors import InputError, Problem
from ripcord.registry.base import Predictor, Scored
from ripcord.respond.fairness import gaps
from ripcord.sop.schema import FairnessSpec, Slas
from ripcord.sop.severity import Direction


@dataclass(frozen=True)
class GoldenSet:
    rows: list[dict[str, Any]]
    labels: list[Any]

    @classmethod
    def load(cls, path: Path, label: str) -> GoldenSet:
        if not path.is_file():
            raise InputError("golden set", [Problem("golden_set.path", str(path), "is not a file")])
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or label not in reader.fieldnames:
                raise InputError(
                    "golden set",
                    [Problem("golden_set.label", label, f"is not a column of {path.name}")],
                )
            records = [{k: _value(v) for k, v in row.items()} for row in reader]
        if not records:
            raise InputError("golden set", [Problem("golden_set.path", str(path), "has no rows")])
        labels = [r.pop(label) for r in records]
        return cls(records, labels)


def _value(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class Check:
    metric: str
    value: float
    threshold: float
    direction: Direction  # the value fails when it is above / below the threshold

    @property
    def passed(self) -> bool:
        return (
            self.value <= self.threshold
            if self.direction == "above"
            else self.value >= self.threshold
        )


@dataclass(frozen=True)
class Validation:
    version: str
    rows: int
    checks: tuple[Check, ...]
    error: str | None = None
    fairness: dict[str, Any] | None = None  # per-group rates and gaps (respond/fairness.py)

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.passed for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "rows": self.rows,
            "passed": self.passed,
            "error": self.error,
            "checks": [asdict(c) | {"passed": c.passed} for c in self.checks],
            "fairness": self.fairness,
        }


def _same(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def _latency_p95(predictor: Predictor, rows: Sequence[Mapping[str, Any]], sample: int) -> float:
    timings = []
    for row in rows[:sample]:
        start = time.perf_counter()
        predictor.predict([row])
        timings.append((time.perf_counter() - start) * 1000.0)
    return float(np.percentile(timings, 95))


def validate(
    predictor: Predictor,
    golden: GoldenSet,
    slas: Slas,
    *,
    version: str,
    latency_sample: int = 100,
    fairness: FairnessSpec | None = None,
) -> Validation:
    """Score `predictor` on the golden set and compare with every SLA that is set, and
    with the fairness limits when the SOP names a protected attribute."""
    try:
        scored = predictor.predict(golden.rows)
        latency = _latency_p95(predictor, golden.rows, latency_sample)
    except Exception as exc:  # a candidate that cannot even score fails validation
        return Validation(version, len(golden.rows), (), error=f"{type(exc).__name__}: {exc}")
    accuracy = float(
        np.mean([_same(s.prediction, y) for s, y in zip(scored, golden.labels, strict=True)])
    )
    confidences = [s.confidence for s in scored if s.confidence is not None]
    checks = []
    if slas.min_accuracy is not None:
        checks.append(Check("accuracy", accuracy, slas.min_accuracy, "below"))
    if slas.min_mean_confidence is not None and confidences:
        checks.append(
            Check("mean_confidence", float(np.mean(confidences)), slas.min_mean_confidence, "below")
        )
    if slas.p95_latency_ms is not None:
        checks.append(Check("p95_latency_ms", latency, slas.p95_latency_ms, "above"))
    if slas.max_error_rate is not None:
        checks.append(Check("error_rate", 0.0, slas.max_error_rate, "above"))
    if fairness is None:
        return Validation(version, len(golden.rows), tuple(checks))
    return _with_fairness(version, golden, scored, checks, fairness)


def _with_fairness(
    version: str,
    golden: GoldenSet,
    scored: Sequence[Scored],
    checks: list[Check],
    spec: FairnessSpec,
) -> Validation:
    """Add the fairness checks; too few large-enough groups to compare fails the candidate:
    a fairness limit that cannot be checked must not pass silently."""
    result = gaps(
        spec.attribute,
        [row.get(spec.attribute) for row in golden.rows],
        [_same(s.prediction, spec.favorable) for s in scored],
        min_group_size=spec.min_group_size,
    )
    error = None
    if not result.comparable:
        error = (
            f"fairness: fewer than 2 groups of {spec.attribute!r} have "
            f"{spec.min_group_size} rows or more"
        )
    if spec.max_parity_difference is not None:
        checks.append(
            Check(
                "parity_difference", result.parity_difference, spec.max_parity_difference, "above"
            )
        )
    if spec.min_disparate_impact is not None:
        checks.append(
            Check("disparate_impact", result.disparate_impact, spec.min_disparate_impact, "below")
        )
    return Validation(version, len(golden.rows), tuple(checks), error, result.as_dict())
