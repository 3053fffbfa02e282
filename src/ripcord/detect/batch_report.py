"""What a batch drift comparison returns (`ripcord.detect.batch.compare`): one
`ColumnResult` per reference column inside a `DriftReport`, and the `EffectFloor` that,
with the adjusted p-value, decides which columns drifted."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ripcord.detect.windows import require_choice, require_number

NUMERIC_EFFECTS = ("ks_d", "wasserstein_sd", "psi", "js")
CATEGORICAL_EFFECTS = ("cramers_v", "psi", "js")


@dataclass(frozen=True)
class EffectFloor:
    """The smallest effect that counts as drift, per column kind. Defaults: KS D >= 0.1 for
    numeric columns (the CDFs differ by 10 points somewhere: about a quarter of a standard
    deviation of mean shift for normal data), Cramer's V >= 0.1 (Cohen's "small") for the
    others. Numeric alternatives: "wasserstein_sd" (Wasserstein distance in reference
    standard deviations), "psi", "js"; categorical: "psi", "js"."""

    numeric: str = "ks_d"
    numeric_min: float = 0.1
    categorical: str = "cramers_v"
    categorical_min: float = 0.1

    def __post_init__(self) -> None:
        require_choice("numeric", self.numeric, NUMERIC_EFFECTS)
        require_choice("categorical", self.categorical, CATEGORICAL_EFFECTS)
        require_number("numeric_min", self.numeric_min, low=0.0, high=math.inf)
        require_number("categorical_min", self.categorical_min, low=0.0, high=math.inf)

    def for_kind(self, kind: str) -> tuple[str, float]:
        if kind == "numeric":
            return self.numeric, self.numeric_min
        return self.categorical, self.categorical_min


DEFAULT_FLOOR = EffectFloor()
NO_FLOOR = EffectFloor(numeric_min=0.0, categorical_min=0.0)


@dataclass(frozen=True)
class ColumnResult:
    """One column's comparison. Counts are of present values; NaN means not computed."""

    column: str
    kind: str  # "numeric", "discrete" or "categorical"
    test: str  # "ks_asymp", "ks_exact", "chi2", or "none" (not tested)
    statistic: float  # KS D or the chi-square statistic
    p_value: float
    effect_name: str  # "ks_d", "wasserstein_sd", "cramers_v", "psi" or "js"
    effect: float
    n_reference: int
    n_current: int
    missing_reference: int
    missing_current: int
    psi: float
    js: float  # Jensen-Shannon distance, base 2
    wasserstein: float = math.nan  # numeric only, when asked for
    unseen_rows: int = 0  # current values in categories the reference never saw
    unseen: tuple[tuple[str, int], ...] = ()  # the most frequent of them, with counts
    note: str = ""
    p_adjusted: float = math.nan
    significant: bool = False  # adjusted p-value below alpha
    drifted: bool = False  # significant, and the effect reaches the floor

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes None."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            is_nan = isinstance(value, float) and math.isnan(value)
            out[key] = None if is_nan else value
        out["unseen"] = [list(item) for item in self.unseen]
        return out


@dataclass(frozen=True)
class DriftReport:
    columns: tuple[ColumnResult, ...]
    alpha: float
    correction: str
    min_effect: EffectFloor
    rows_reference: int
    rows_current: int
    unknown: tuple[str, ...] = ()  # current columns the reference does not have

    @property
    def drifted(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if c.drifted)

    @property
    def untested(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if c.test == "none")

    def __getitem__(self, column: str) -> ColumnResult:
        for result in self.columns:
            if result.column == column:
                return result
        raise KeyError(column)

    def as_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "correction": self.correction,
            "min_effect": self.min_effect.__dict__,
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
            "drifted": list(self.drifted),
            "untested": list(self.untested),
            "unknown": list(self.unknown),
            "columns": [c.as_dict() for c in self.columns],
        }
