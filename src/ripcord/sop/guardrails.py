"""Guardrails: rules on a request's input or a model's output that block or replace it.

Pure: no database, no web. The guard applies them on every call; an output guardrail is
how an LLM reply promising an unauthorised discount never reaches the customer (SPEC
scenario 6), and a range guardrail keeps a pricing model's answer inside what the business
allows even while it is being rolled back.

    guardrails:
      - name: no-discount-promises
        on: output
        pattern: "(?i)\\b(\\d+ ?%|percent) (off|discount)"
        action: replace
        replacement: "I can't offer discounts here; a colleague will follow up."
      - {name: price-bounds, on: output, min: 0.5, max: 500, action: block}
      - name: prompt-injection
        on: input
        field: message
        pattern: "(?i)ignore (all|previous) instructions"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, model_validator

from ripcord.sop.base import Strict


class GuardrailSpec(Strict):
    """One rule. Give a `pattern` (text) or `min`/`max` (numbers); `field` picks an input
    field (for `on: input`) or a key of a dict output; without it the whole output."""

    name: str = Field(min_length=1, max_length=100)
    on: Literal["input", "output"]
    field: str | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    action: Literal["block", "replace"] = "block"
    replacement: Any = None

    @model_validator(mode="after")
    def _check(self) -> GuardrailSpec:
        if self.pattern is None and self.min is None and self.max is None:
            raise ValueError("give a pattern, or min and/or max")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a valid regex: {exc}") from None
        if self.on == "input" and self.field is None:
            raise ValueError("an input guardrail needs the field it checks")
        if self.action == "replace" and self.replacement is None:
            raise ValueError("action replace needs a replacement")
        return self

    @cached_property
    def regex(self) -> re.Pattern[str] | None:
        return re.compile(self.pattern) if self.pattern is not None else None


@dataclass(frozen=True)
class Hit:
    """A guardrail that fired, and what it saw."""

    name: str
    action: str
    replacement: Any
    seen: str

    @property
    def violation(self) -> str:
        return f"guardrail:{self.name}: {self.seen}"


def _value(rule: GuardrailSpec, subject: Any) -> Any:
    if rule.field is None:
        return subject
    return subject.get(rule.field) if isinstance(subject, Mapping) else None


def _fires(rule: GuardrailSpec, value: Any) -> str | None:
    """What made the rule fire on `value`, or None."""
    if rule.regex is not None and isinstance(value, str):
        found = rule.regex.search(value)
        return f"matched {found.group(0)!r}" if found else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if rule.min is not None and value < rule.min:
            return f"{value!r} < {rule.min:g}"
        if rule.max is not None and value > rule.max:
            return f"{value!r} > {rule.max:g}"
    return None


def check(rules: tuple[GuardrailSpec, ...], on: str, subject: Any) -> Hit | None:
    """The first rule on `on` ("input" or "output") that fires on `subject`, if any."""
    for rule in rules:
        if rule.on != on:
            continue
        seen = _fires(rule, _value(rule, subject))
        if seen is not None:
            return Hit(rule.name, rule.action, rule.replacement, seen)
    return None
