"""The frozen Reference keeps its feature columns aligned with its predictions."""

from __future__ import annotations

from ripcord.detect.base import Reference


def test_absent_and_late_features_are_recorded_as_none() -> None:
    reference = Reference(3)
    reference.add({"a": 1.0}, 0)
    reference.add({"b": "x"}, 1)
    reference.add({"a": 2.0, "b": "y"}, 0)
    reference.add({"a": 99.0}, 1)  # frozen: ignored
    assert reference.frozen
    assert reference.features == {"a": [1.0, None, 2.0], "b": [None, "x", "y"]}
    assert reference.predictions == [0, 1, 0]
