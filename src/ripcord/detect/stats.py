"""Distribution comparisons for drift: PSI and the two-sample KS statistic, plus per-column
profiles of a frozen reference (bins, sorted values and means computed once).

Kept free of detector state so investigation aids (per-feature ranking of an incident
window against its baseline) can reuse exactly what the detectors measured.

Conventions, chosen so that nothing crashes on real traffic:

- a value is *missing* when it is None, a non-finite float, or (in a numeric column) not a
  number at all; PSI gives missing values their own bucket, so a feature that goes absent
  shows up as drift; KS compares only the values present;
- a column is numeric when every non-missing reference value is a number (bools are not);
  otherwise it is categorical, and its values are compared as text;
- shares are floored at `EPSILON` before PSI, so an empty bucket gives a large, finite term.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np
import numpy.typing as npt
from scipy.special import rel_entr
from scipy.stats import distributions

EPSILON = 1e-4
FloatArray = npt.NDArray[np.float64]
UNSEEN = "(unseen)"
#: chi-square's approximation wants expected counts of at least 5 (Cochran).
MIN_EXPECTED = 5.0
MISSING = "(missing)"


def is_number(value: object) -> TypeGuard[numbers.Real]:
    if type(value) is float:  # the common cases first: ABC isinstance checks are slow
        return math.isfinite(value)
    if type(value) is int:
        return True
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


_PLAIN_NUMBERS = frozenset({float, int})


def split_numeric(values: Sequence[object]) -> tuple[FloatArray, int]:
    """The numbers in `values`, and how many entries were missing or not numbers."""
    if set(map(type, values)) <= _PLAIN_NUMBERS:
        # The common case, converted in C: plain floats and ints, non-finite ones dropped
        # (bools, strings and None need the per-value check below).
        everything = np.array(values, dtype=np.float64)
        present = everything[np.isfinite(everything)]
    else:
        present = np.array([float(v) for v in values if is_number(v)], dtype=np.float64)
    return present, len(values) - present.size


def smoothed_shares(counts: FloatArray) -> FloatArray:
    """Each bucket's share of the total, floored at EPSILON (no ln(0), no division by 0)."""
    total = float(counts.sum())
    shares = counts / total if total > 0 else np.zeros_like(counts)
    return np.maximum(shares, EPSILON)


def psi(reference: FloatArray, window: FloatArray) -> float:
    """Population stability index: sum((w - r) * ln(w / r)) over buckets of smoothed shares."""
    return float(np.sum((window - reference) * np.log(window / reference)))


def quantile_edges(sorted_values: FloatArray, bins: int) -> FloatArray:
    """Inner PSI bin edges: the 1/bins, ..., (bins-1)/bins quantiles, duplicates merged. With
    `searchsorted(edges, x, side="right")` a value equal to an edge falls in the upper bin."""
    return np.unique(np.quantile(sorted_values, np.linspace(0.0, 1.0, bins + 1)[1:-1]))


def ks_statistic(reference_sorted: FloatArray, window: FloatArray) -> float:
    """Two-sample KS statistic D: the largest gap between the two empirical CDFs, evaluated
    at every observed value (as scipy.stats.ks_2samp does, ties included)."""
    window_sorted = np.sort(window)
    points = np.concatenate([reference_sorted, window_sorted])
    cdf_ref = np.searchsorted(reference_sorted, points, side="right") / reference_sorted.size
    cdf_win = np.searchsorted(window_sorted, points, side="right") / window_sorted.size
    return float(np.max(np.abs(cdf_ref - cdf_win)))


def ks_pvalue(statistic: float, n_reference: int, n_window: int) -> float:
    """Two-sided p-value from Smirnov's asymptotic distribution, as ks_2samp(method="asymp");
    the exact method costs O(n*m) and a detector checks often."""
    effective = n_reference * n_window / (n_reference + n_window)
    return float(np.clip(distributions.kstwo.sf(statistic, round(effective)), 0.0, 1.0))


def distinct_cdf(sorted_values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The distinct values of a sorted sample and its right-continuous ECDF at them."""
    if sorted_values.size == 0:
        return sorted_values, sorted_values
    last_of_tie = np.append(sorted_values[1:] != sorted_values[:-1], True)
    return sorted_values[last_of_tie], (np.flatnonzero(last_of_tie) + 1) / sorted_values.size


def ks_sorted(values: FloatArray, cdf: FloatArray, other_sorted: FloatArray) -> float:
    """The KS statistic D of ks_2samp, from one sample summarised as its distinct values
    and ECDF at them (`distinct_cdf`), and the other sample sorted.

    Between two distinct values of the first sample its ECDF is flat, so the largest gap
    in that stretch is at one of its ends: at the value itself, or just below the next one
    (the last value of the other sample before it). So one binary search of the first
    sample's distinct values into the other replaces ks_2samp's two over all n + m values;
    summarise whichever sample has fewer distinct values. Each gap is a
    count / size difference as in scipy, so D equals scipy's to the last bit or so (the same
    gap can be reached at two points, rounded apart by one ulp)."""
    m = other_sorted.size
    below = np.searchsorted(other_sorted, values, side="left")
    at = below.copy()
    # Only values the other sample also holds need the second search (ties across samples).
    shared = other_sorted[np.minimum(below, m - 1)] == values
    at[shared] = np.searchsorted(other_sorted, values[shared], side="right")
    cdf_below = np.concatenate(([0.0], cdf[:-1]))
    return float(max(np.max(np.abs(cdf - at / m)), np.max(np.abs(cdf_below - below / m))))


def wasserstein_sorted(reference_sorted: FloatArray, current_sorted: FloatArray) -> float:
    """First Wasserstein distance of two sorted samples, the integral of |F_ref - F_cur| over
    their merged values (as scipy.stats.wasserstein_distance). The merge is one searchsorted
    of the reference into the current sample; within ties the gap between points is zero, so
    the order inside a tie does not matter."""
    n, m = reference_sorted.size, current_sorted.size
    at = np.arange(n) + np.searchsorted(current_sorted, reference_sorted, side="left")
    from_reference = np.zeros(n + m, dtype=bool)
    from_reference[at] = True
    merged = np.empty(n + m, dtype=np.float64)
    merged[at] = reference_sorted
    merged[~from_reference] = current_sorted
    count_ref = np.cumsum(from_reference[:-1])
    count_cur = np.arange(1, n + m) - count_ref
    return float(np.dot(np.abs(count_ref / n - count_cur / m), np.diff(merged)))


def chi2_two_sample(reference: FloatArray, current: FloatArray) -> tuple[float, float, int]:
    """Pearson chi-square of the 2 x k contingency table (reference counts, current counts):
    a two-sample test, because the reference proportions are estimates too, not a goodness
    of fit against them as if exact. Categories empty in both rows are dropped; with one
    degree of freedom Yates' continuity correction applies. Equals
    scipy.stats.chi2_contingency (statistic, p-value, dof) on the same table."""
    table = np.vstack([reference, current]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    dof = table.shape[1] - 1
    if dof < 1 or table.sum(axis=1).min() == 0:
        return 0.0, 1.0, max(dof, 0)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    if dof == 1:
        gap = expected - table
        table = table + np.sign(gap) * np.minimum(0.5, np.abs(gap))
    statistic = float(((table - expected) ** 2 / expected).sum())
    return statistic, float(distributions.chi2.sf(statistic, dof)), dof


def pool_sparse(
    reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Merge the categories whose smaller expected count (in the reference or the current
    row) is under MIN_EXPECTED into one, when there are at least two of them."""
    total = reference + current
    expected = total * min(reference.sum(), current.sum()) / total.sum()
    sparse = expected < MIN_EXPECTED
    if sparse.sum() < 2:
        return reference, current
    pooled = (np.append(row[~sparse], row[sparse].sum()) for row in (reference, current))
    return next(pooled), next(pooled)


def cramers_v_balanced(reference: FloatArray, current: FloatArray) -> float:
    """Cramer's V of the two-row table re-weighted to equal row totals:
    sqrt(sum((p - q)^2 / (p + q)) / 2) over category shares p, q. In [0, 1]; equal to the
    usual V when both samples have the same size, and unlike it, not shrunk when the current
    table is ten times the reference."""
    p = reference / reference.sum()
    q = current / current.sum()
    both = (p + q) > 0
    return float(np.sqrt(0.5 * np.sum((p[both] - q[both]) ** 2 / (p[both] + q[both]))))


def jensen_shannon(reference: FloatArray, current: FloatArray, base: float = 2.0) -> float:
    """Jensen-Shannon distance of two count (or share) vectors, in log `base` (2: in [0, 1]),
    as scipy.spatial.distance.jensenshannon."""
    p = reference / reference.sum()
    q = current / current.sum()
    mid = (p + q) / 2.0
    divergence = float(np.sum(rel_entr(p, mid)) + np.sum(rel_entr(q, mid))) / math.log(base)
    return math.sqrt(max(divergence, 0.0) / 2.0)


@dataclass(frozen=True)
class ColumnDrift:
    """How far one column of the window is from its reference."""

    statistic: float
    method: str  # "psi" or "ks"
    kind: str  # "numeric" or "categorical"
    count: int
    missing: int  # window values that were None, non-finite, or not numbers
    reference_mean: float | None = None
    window_mean: float | None = None
    p_value: float | None = None
    shifts: tuple[dict[str, Any], ...] = ()  # categorical: the largest share changes

    def as_dict(self, feature: str) -> dict[str, Any]:
        return {
            "feature": feature,
            "statistic": self.statistic,
            "reference_mean": self.reference_mean,
            "window_mean": self.window_mean,
            "method": self.method,
            "kind": self.kind,
            "p_value": self.p_value,
            "missing": self.missing,
        }


class NumericProfile:
    """A numeric reference column: sorted values (for KS), quantile bin edges and bucket
    shares (for PSI), and the mean. Inner edges are the reference's 1/bins, ..., (bins-1)/bins
    quantiles (duplicates merged); a value equal to an edge falls in the upper bin; one more
    bucket holds missing values."""

    kind = "numeric"

    def __init__(self, values: Sequence[object], bins: int) -> None:
        present, missing = split_numeric(values)
        self.sorted = np.sort(present)
        self.edges = quantile_edges(self.sorted, bins)
        self.shares = smoothed_shares(self.counts(self.sorted, missing))
        self.mean = float(self.sorted.mean())

    def counts(self, present: FloatArray, missing: int) -> FloatArray:
        index = np.searchsorted(self.edges, present, side="right")
        binned = np.bincount(index, minlength=self.edges.size + 1).astype(np.float64)
        return np.append(binned, float(missing))

    def compare(self, values: Sequence[object], method: str) -> ColumnDrift:
        present, missing = split_numeric(values)
        window_mean = float(present.mean()) if present.size else None
        if method == "ks":
            # A column gone entirely missing has no CDF: count it as the largest gap, D = 1.
            d = ks_statistic(self.sorted, present) if present.size else 1.0
            p = ks_pvalue(d, self.sorted.size, present.size) if present.size else 0.0
        else:
            d, p = psi(self.shares, smoothed_shares(self.counts(present, missing))), None
        return ColumnDrift(d, method, self.kind, len(values), missing, self.mean, window_mean, p)


class CategoricalProfile:
    """A categorical reference column: one bucket per reference category (as text), one for
    every category the reference never saw, one for missing values. Always PSI: KS needs an
    order that categories do not have."""

    kind = "categorical"

    def __init__(self, values: Sequence[object]) -> None:
        counts = Counter(str(v) for v in values if not is_missing(v))
        self.labels = (*sorted(counts), UNSEEN, MISSING)
        self._index = {label: i for i, label in enumerate(self.labels[:-2])}
        raw = np.array([counts[c] for c in self.labels[:-2]] + [0, len(values) - counts.total()])
        self.raw_shares = raw / max(len(values), 1)
        self.shares = smoothed_shares(raw.astype(np.float64))

    def counts(self, values: Sequence[object]) -> FloatArray:
        counts = np.zeros(len(self.labels), dtype=np.float64)
        unseen, missing = len(self.labels) - 2, len(self.labels) - 1
        for value in values:
            slot = missing if is_missing(value) else self._index.get(str(value), unseen)
            counts[slot] += 1
        return counts

    def compare(self, values: Sequence[object], method: str) -> ColumnDrift:
        counts = self.counts(values)
        statistic = psi(self.shares, smoothed_shares(counts))
        window_raw = counts / max(len(values), 1)
        change = np.abs(window_raw - self.raw_shares)
        top = [i for i in np.argsort(-change, kind="stable")[:5] if change[i] > 0]
        shifts = tuple(
            {
                "category": self.labels[i],
                "reference_share": float(self.raw_shares[i]),
                "window_share": float(window_raw[i]),
            }
            for i in top
        )
        missing = int(counts[-1])
        return ColumnDrift(statistic, "psi", self.kind, len(values), missing, shifts=shifts)


Profile = NumericProfile | CategoricalProfile


def build_profile(values: Sequence[object], bins: int) -> Profile | None:
    """Profile a reference column; None when it holds no usable value at all."""
    present = [v for v in values if not is_missing(v)]
    if not present:
        return None
    if all(is_number(v) for v in present):
        return NumericProfile(values, bins)
    return CategoricalProfile(values)
