"""The input contract check: which fields of a request break the SOP's contract."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ripcord.sop.schema import FieldContract, InputContract

_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "bool": (bool,),
    "category": (str, int, bool),
}


def _field_problem(name: str, value: Any, rule: FieldContract) -> str | None:
    if value is None:
        return f"{name}: is required" if rule.required else None
    if rule.type in ("float", "int"):
        return _number_problem(name, value, rule)
    if not isinstance(value, _TYPES[rule.type]):
        return f"{name}: {value!r} is not of type {rule.type}"
    if rule.allowed is not None and str(value) not in rule.allowed:
        return f"{name}: {value!r} is not one of {', '.join(rule.allowed)}"
    return None


def _number_problem(name: str, value: Any, rule: FieldContract) -> str | None:
    wanted = int if rule.type == "int" else (int, float)
    if isinstance(value, bool) or not isinstance(value, wanted):
        return f"{name}: {value!r} is not of type {rule.type}"
    number = float(value)
    if not math.isfinite(number):
        return f"{name}: {value!r} is not a finite number"
    if rule.min is not None and number < rule.min:
        return f"{name}: {value!r} is not >= {rule.min:g}"
    if rule.max is not None and number > rule.max:
        return f"{name}: {value!r} is not <= {rule.max:g}"
    return None


def violations(contract: InputContract, features: Mapping[str, Any]) -> tuple[str, ...]:
    """Every broken rule, as 'field: value is not ...' strings (empty when the input is fine)."""
    found: list[str] = []
    for name, rule, number, whole, low, high in contract.checks:
        value: Any = features.get(name)
        if number:  # the usual case decided in a few comparisons; the rest in full below
            kind = type(value)
            if (kind is int or (kind is float and not whole)) and low <= value <= high:
                continue
        if (problem := _field_problem(name, value, rule)) is not None:
            found.append(problem)
    if not contract.allow_extra:
        found += [f"{k}: is not in the contract" for k in features if k not in contract.fields]
    return tuple(found)
