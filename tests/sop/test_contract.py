from __future__ import annotations

from ripcord.sop.contract import violations
from ripcord.sop.schema import InputContract

CONTRACT = InputContract.model_validate(
    {
        "fields": {
            "income": {"type": "float", "min": 0},
            "age": {"type": "int", "min": 18, "max": 120},
            "region": {"type": "category", "allowed": ["eu", "us"]},
            "note": {"type": "str", "required": False},
        },
        "allow_extra": False,
    }
)


def test_a_good_row_has_no_violations() -> None:
    assert violations(CONTRACT, {"income": 10.5, "age": 40, "region": "eu"}) == ()


def test_each_broken_rule_is_named() -> None:
    found = violations(CONTRACT, {"income": -1.0, "age": 12.5, "region": "mars", "x": 1})
    assert found == (
        "income: -1.0 is not >= 0",
        "age: 12.5 is not of type int",
        "region: 'mars' is not one of eu, us",
        "x: is not in the contract",
    )


def test_missing_required_and_non_finite() -> None:
    found = violations(CONTRACT, {"income": float("nan"), "region": "us"})
    assert "income: nan is not a finite number" in found
    assert "age: is required" in found


def test_booleans_are_not_numbers() -> None:
    assert violations(CONTRACT, {"income": True, "age": 30, "region": "eu"}) == (
        "income: True is not of type float",
    )
