from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ripcord.sop.contract import _field_problem, violations
from ripcord.sop.schema import FieldContract, InputContract

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


def _reference(contract: InputContract, features: dict[str, Any]) -> tuple[str, ...]:
    """The check rule by rule, with no fast path: what `violations` must always say."""
    found = [
        problem
        for name, rule in contract.fields.items()
        if (problem := _field_problem(name, features.get(name), rule)) is not None
    ]
    if not contract.allow_extra:
        found += [f"{k}: is not in the contract" for k in features if k not in contract.fields]
    return tuple(found)


_anything = (
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | st.text(max_size=3)
)


@settings(max_examples=300, deadline=None)
@given(
    rules=st.lists(
        st.tuples(
            st.sampled_from(["float", "int", "str", "category"]),
            st.none() | st.floats(-100, 100),
            st.none() | st.floats(-100, 100),
            st.booleans(),
        ),
        max_size=4,
    ),
    values=st.lists(_anything, min_size=4, max_size=4),
    allow_extra=st.booleans(),
)
def test_the_fast_check_says_what_the_rule_by_rule_check_says(
    rules: list[tuple[str, float | None, float | None, bool]],
    values: list[Any],
    allow_extra: bool,
) -> None:
    fields = {}
    for i, (kind, low, high, required) in enumerate(rules):
        numeric = kind in ("float", "int")
        low, high = (low, high) if numeric else (None, None)
        if low is not None and high is not None and low > high:
            low, high = high, low
        fields[f"f{i}"] = FieldContract(type=kind, min=low, max=high, required=required)
    contract = InputContract(fields=fields, allow_extra=allow_extra)
    features = {f"f{i}": v for i, v in enumerate(values) if v is not None or i % 2}
    features["extra"] = 1.0
    assert violations(contract, features) == _reference(contract, features)
