"""Columns of a frozen reference table for batch drift (`ripcord.detect.batch`): which kind
each column is, what is computed once when the reference freezes, and how a current column
is reduced to the same form with numpy (no Python loop over rows).

Kinds, chosen from the reference unless given:

- ``numeric``: float or integer values (or an object column whose non-missing values are
  all numbers, bools excluded) with more than `discrete_levels` distinct values. Frozen as
  the sorted values, the distinct values with the ECDF at them (for KS), the PSI bin edges
  and counts, mean and standard deviation.
- ``discrete``: a numeric column with at most `discrete_levels` distinct reference values
  (flags, counts, ratings). Compared like a categorical column over its levels: on data
  this tied the asymptotic KS p-value is conservative, the contingency chi-square is not.
- ``categorical``: anything else (text, bools, mixed objects). Values are compared as text,
  as in `ripcord.detect.stats`, so 1 and "1" are the same category.

Missing values are None, NaN and +-inf; in a numeric column also anything not a number.
"""

from __future__ import annotations

import numbers
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ripcord.detect.stats import (
    FloatArray,
    distinct_cdf,
    is_missing,
    is_number,
    quantile_edges,
)

Values = npt.NDArray[Any]
IntArray = npt.NDArray[np.int64]
KINDS = ("numeric", "discrete", "categorical")
#: up to this many categories, counting by equality beats a binary search per row
FEW_CATEGORIES = 12
NONE = np.array(None, dtype=object)  # compared element-wise with an object column


def _numbers_only(values: Values) -> bool:
    """Whether an object column holds only numbers (and None); bools are not numbers."""
    types = set(map(type, values)) - {type(None)}
    return all(issubclass(t, numbers.Real) and not issubclass(t, bool | np.bool_) for t in types)


def as_float(values: Values) -> FloatArray:
    """The column as float64; None, and anything that is not a number, become NaN."""
    if values.dtype.kind in "fiub":
        return values.astype(np.float64, copy=False)
    if values.dtype.kind == "O" and _numbers_only(values):
        return np.where(np.equal(values, NONE), np.nan, values).astype(np.float64)
    # Text or mixed objects: keep the numbers, the rest counts as missing (one call per row,
    # but only on a column that was declared numeric and is not).
    keep = np.asarray(np.frompyfunc(is_number, 1, 1)(values), dtype=bool)
    out = np.full(values.shape, np.nan)
    out[keep] = values[keep].astype(np.float64)
    return out


def detect_kind(values: Values, discrete_levels: int) -> str:
    kind = values.dtype.kind
    if kind in "fiu" or (kind == "O" and values.size and _numbers_only(values)):
        x = as_float(values)
        levels = np.unique(x[np.isfinite(x)]).size
        return "discrete" if 0 < levels <= discrete_levels else "numeric"
    return "categorical"


@dataclass(frozen=True, eq=False)
class NumericColumn:
    """A numeric reference column, summarised once."""

    rows: int
    missing: int
    sorted: FloatArray  # the present values, ascending
    values: FloatArray  # the distinct present values, ascending
    cdf: FloatArray  # reference ECDF at `values` (right-continuous)
    edges: FloatArray  # inner PSI bin edges (reference quantiles)
    bin_counts: FloatArray  # reference count per PSI bin, then the missing count
    mean: float
    std: float
    kind: str = "numeric"

    @classmethod
    def freeze(cls, values: Values, bins: int) -> NumericColumn:
        x = as_float(values)
        present = np.sort(x[np.isfinite(x)])
        n = present.size
        distinct, cdf = distinct_cdf(present)
        edges = quantile_edges(present, bins) if n else np.zeros(0)
        return cls(
            rows=x.size,
            missing=x.size - n,
            sorted=present,
            values=distinct,
            cdf=cdf,
            edges=edges,
            bin_counts=bin_counts(edges, present, x.size - n),
            mean=float(present.mean()) if n else float("nan"),
            std=float(present.std()) if n else float("nan"),
        )


def bin_counts(edges: FloatArray, present_sorted: FloatArray, missing: int) -> FloatArray:
    """Counts per PSI bin of a sorted sample (a value on an edge goes up), then `missing`."""
    below = np.searchsorted(present_sorted, edges, side="left")
    counts = np.diff(np.concatenate(([0], below, [present_sorted.size])))
    return np.append(counts, missing).astype(np.float64)


@dataclass(frozen=True, eq=False)
class Tally:
    """A column reduced to counts: per reference category, then the categories the
    reference never saw (as text, ascending), then missing values."""

    seen: IntArray
    unseen: npt.NDArray[np.str_]
    unseen_counts: IntArray
    missing: int


@dataclass(frozen=True, eq=False)
class CategoricalColumn:
    """A categorical (or discrete numeric) reference column: its categories as text,
    ascending, with their counts."""

    rows: int
    missing: int
    categories: npt.NDArray[np.str_]
    counts: IntArray
    kind: str = "categorical"

    @classmethod
    def freeze(cls, values: Values, kind: str) -> CategoricalColumn:
        t = tally(values, kind, np.zeros(0, dtype=np.str_))
        return cls(values.size, t.missing, t.unseen, t.unseen_counts, kind)

    def tally(self, values: Values) -> Tally:
        return tally(values, self.kind, self.categories)


def tally(values: Values, kind: str, categories: npt.NDArray[np.str_]) -> Tally:
    """Count a column's values against known `categories` (text, ascending)."""
    if kind == "discrete":  # levels of a number, as the text of its float value
        x = as_float(values)
        finite = np.isfinite(x)
        keys, counts = np.unique(x[finite], return_counts=True)
        return _match(keys.astype(str), counts, categories, int(x.size - finite.sum()))
    if values.dtype.kind == "S":
        values = np.char.decode(values, "utf-8", "replace")
    if values.dtype.kind == "U":
        return _tally_text(values, categories)
    if values.dtype.kind == "O":
        return _tally_objects(values, categories)
    keys, counts = np.unique(values, return_counts=True)  # bools, ints, floats as categories
    gone = ~np.isfinite(keys) if keys.dtype.kind == "f" else np.zeros(keys.size, bool)
    return _match(keys[~gone].astype(str), counts[~gone], categories, int(counts[gone].sum()))


def _tally_text(values: Values, categories: npt.NDArray[np.str_]) -> Tally:
    if categories.size == 0:
        keys, counts = np.unique(values, return_counts=True)
        return _match(keys, counts, categories, 0)
    if categories.size <= FEW_CATEGORIES:  # one comparison pass per category
        equal = [values == category for category in categories]
        seen = np.array([np.count_nonzero(e) for e in equal], dtype=np.int64)
        hit = np.logical_or.reduce(equal)
    else:  # one binary search per row over the categories; still cheaper than sorting
        at = np.searchsorted(categories, values)
        hit = categories[np.minimum(at, categories.size - 1)] == values
        seen = np.bincount(at[hit], minlength=categories.size).astype(np.int64)
    unseen, unseen_counts = np.unique(values[~hit], return_counts=True)
    return Tally(seen, unseen.astype(str), unseen_counts.astype(np.int64), 0)


def _tally_objects(values: Values, categories: npt.NDArray[np.str_]) -> Tally:
    try:
        counter: Counter[Any] = Counter(values)  # counts in C; hashing is per distinct value
    except TypeError:  # unhashable values (lists, dicts): compare their text
        counter = Counter(None if is_missing(v) else str(v) for v in values)
    missing = sum(count for key, count in counter.items() if is_missing(key))
    present = [(str(key), count) for key, count in counter.items() if not is_missing(key)]
    keys = np.array([key for key, _ in present], dtype=np.str_)
    counts = np.array([count for _, count in present], dtype=np.int64)
    return _match(keys, counts, categories, missing)


def _match(keys: Values, counts: Values, categories: npt.NDArray[np.str_], missing: int) -> Tally:
    """Tally distinct keys (text) with their counts; keys whose text coincides are merged."""
    keys, inverse = np.unique(keys.astype(str), return_inverse=True)
    counts = np.bincount(inverse, weights=counts, minlength=keys.size).astype(np.int64)
    if categories.size == 0:
        return Tally(np.zeros(0, np.int64), keys, counts, missing)
    at = np.searchsorted(categories, keys)
    hit = categories[np.minimum(at, categories.size - 1)] == keys
    seen = np.bincount(at[hit], weights=counts[hit], minlength=categories.size)
    return Tally(seen.astype(np.int64), keys[~hit], counts[~hit], missing)


Column = NumericColumn | CategoricalColumn


def freeze_column(values: Values, kind: str, bins: int) -> Column:
    if kind == "numeric":
        return NumericColumn.freeze(values, bins)
    return CategoricalColumn.freeze(values, kind)
