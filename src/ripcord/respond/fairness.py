"""Fairness gaps between protected groups, from one candidate's predictions.

Two standard measures over the *favorable rate* (the share of a group's rows that get the
favorable prediction):

- demographic parity difference: the largest rate minus the smallest (0 is parity);
- disparate-impact ratio: the smallest rate over the largest (1 is parity; the US EEOC's
  "four-fifths rule" flags a ratio under 0.8).

Groups smaller than `min_group_size` are reported but left out of both measures: a group of
three rows can swing either measure on its own. Pure functions, no SOP or database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Gaps:
    """The measures, with the per-group evidence they come from."""

    attribute: str
    min_group_size: int
    rates: dict[str, tuple[int, float]]  # group -> (rows, favorable rate), compared groups
    skipped: dict[str, int] = field(default_factory=dict)  # group -> rows, too small

    @property
    def comparable(self) -> bool:
        return len(self.rates) >= 2

    @property
    def parity_difference(self) -> float:
        values = [rate for _, rate in self.rates.values()]
        return max(values) - min(values) if self.comparable else 0.0

    @property
    def disparate_impact(self) -> float:
        values = [rate for _, rate in self.rates.values()]
        if not self.comparable or max(values) == 0.0:
            return 1.0  # no group is favored at all: no disparity in the rates
        return min(values) / max(values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "min_group_size": self.min_group_size,
            "groups": {g: {"rows": n, "favorable_rate": r} for g, (n, r) in self.rates.items()},
            "skipped": dict(self.skipped),
            "parity_difference": self.parity_difference,
            "disparate_impact": self.disparate_impact,
        }


def group_label(value: Any) -> str:
    """A group's name as text: 1.0 read from a CSV is group "1", not "1.0"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def gaps(
    attribute: str, groups: Sequence[Any], favorable: Sequence[bool], *, min_group_size: int
) -> Gaps:
    """Favorable rates per group of `attribute`, and the gaps between the large enough ones.

    >>> g = gaps("sex", ["f", "f", "m", "m"], [True, False, True, True], min_group_size=2)
    >>> g.parity_difference, g.disparate_impact
    (0.5, 0.5)
    """
    if min_group_size < 1:
        raise ValueError(f"min_group_size: {min_group_size} must be >= 1")
    if len(groups) != len(favorable):
        raise ValueError(f"favorable: {len(favorable)} values for {len(groups)} rows")
    counts: dict[str, list[int]] = {}
    for group, ok in zip(groups, favorable, strict=True):
        tally = counts.setdefault(group_label(group), [0, 0])
        tally[0] += 1
        tally[1] += int(ok)
    rates = {g: (n, k / n) for g, (n, k) in sorted(counts.items()) if n >= min_group_size}
    skipped = {g: n for g, (n, _) in sorted(counts.items()) if n < min_group_size}
    return Gaps(attribute, min_group_size, rates, skipped)
