from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ripcord.errors import InputError
from ripcord.registry.base import Scored
from ripcord.respond.golden import GoldenSet, validate
from ripcord.sop.schema import Slas


def golden(tmp_path: Path, text: str = "x,label\n1,1\n2,0\n3,1\n4,1\n") -> GoldenSet:
    path = tmp_path / "g.csv"
    path.write_text(text)
    return GoldenSet.load(path, "label")


class Constant:
    def __init__(self, answer: Any, confidence: float = 0.9) -> None:
        self.answer, self.confidence = answer, confidence

    def predict(self, rows: Any) -> list[Scored]:
        return [Scored(self.answer, self.confidence) for _ in rows]


def test_each_sla_becomes_a_check(tmp_path: Path) -> None:
    slas = Slas(
        min_accuracy=0.7, min_mean_confidence=0.95, p95_latency_ms=1000, max_error_rate=0.01
    )
    result = validate(Constant(1), golden(tmp_path), slas, version="v1")
    checks = {c.metric: (c.value, c.passed) for c in result.checks}
    assert checks["accuracy"] == (0.75, True)
    assert checks["mean_confidence"] == (0.9, False)
    assert checks["p95_latency_ms"][1] is True
    assert not result.passed
    assert result.as_dict()["passed"] is False


def test_a_model_that_crashes_fails_with_the_error(tmp_path: Path) -> None:
    class Broken:
        def predict(self, rows: Any) -> list[Scored]:
            raise ValueError("shape mismatch")

    result = validate(Broken(), golden(tmp_path), Slas(min_accuracy=0.5), version="v3")
    assert not result.passed and result.error == "ValueError: shape mismatch"


def test_bad_golden_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="golden_set.label: 'label' is not a column"):
        golden(tmp_path, "x,y\n1,2\n")
    with pytest.raises(InputError, match="has no rows"):
        golden(tmp_path, "x,label\n")
    with pytest.raises(InputError, match="is not a file"):
        GoldenSet.load(tmp_path / "none.csv", "label")
