"""Batch drift: a frozen reference table against a current table, column by column.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> reference = FrozenReference.freeze(
...     {"age": rng.normal(40, 10, 5000), "plan": rng.choice(["a", "b"], 5000)}
... )
>>> current = {"age": rng.normal(45, 10, 5000), "plan": rng.choice(["a", "b"], 5000)}
>>> report = compare(reference, current)
>>> report.drifted
('age',)

The reference is summarised once (`FrozenReference.freeze`): numeric columns sorted, with
their distinct values and ECDF, categorical ones counted. Comparing a current column then
costs one sort of that column and one binary search of the smaller side's distinct values
into the other; every step is a numpy call over whole columns, and columns run on threads.

What runs on a column, by kind (`ripcord.detect.batch_columns` says how kinds are chosen):

- numeric: the two-sample Kolmogorov-Smirnov test. Its p-value is exact when both samples
  have at most 10,000 values, else from Smirnov's asymptotic distribution, as scipy's
  ks_2samp(method="auto"). Effect size: KS D, floor 0.1.
- discrete and categorical: Pearson's chi-square on the two-row table (reference counts,
  current counts), as chi2_contingency: a two-sample test, since the reference shares are
  estimates too; Yates' correction at one degree of freedom; categories whose expected
  count is under 5 are first pooled into one (Cochran's rule). Effect size: Cramer's V,
  made independent of how much larger one table is (`stats.cramers_v_balanced`), floor
  0.1. Categories the reference never saw are reported with their counts.

Every column also gets PSI and the Jensen-Shannon distance (base 2), over 10
reference-quantile bins for numeric columns and over the reference categories plus one
"unseen" bucket for the others, each with a bucket for missing values; numeric columns get
the Wasserstein distance on request. Statistics equal scipy's (ks_2samp, chi2_contingency,
wasserstein_distance, jensenshannon) where they define the same quantity.

Deciding: a column is ``drifted`` when its adjusted p-value is below `alpha` (0.05) and its
effect size reaches the floor. The p-values are adjusted across the tested columns
(`ripcord.detect.multitest`: Benjamini-Hochberg by default, Bonferroni on request), so a
table of unchanged columns rarely raises anything; the floor matters at scale, where a
p-value alone flags a shift of a few hundredths of a standard deviation. ``significant`` keeps
the p-value verdict alone.

Too little data: a column is tested only with at least `min_count` (30) present values on
both sides; otherwise its test is "none", its p-value NaN, it is left out of the
correction, and it is listed in `DriftReport.untested`. Missing values (None, NaN, +-inf)
are left out of the tests, counted on both sides, and have their own PSI/JS bucket, so a
column going absent moves those; a change in the missing rate itself is for the
data-quality detectors. A reference column absent from the current table counts as all
missing; a current column unknown to the reference is listed in `DriftReport.unknown`.
"""

from __future__ import annotations

import math
import os
import types
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from scipy.stats import ks_2samp

from ripcord.detect import stats
from ripcord.detect.batch_columns import (
    KINDS,
    CategoricalColumn,
    Column,
    NumericColumn,
    Tally,
    Values,
    as_float,
    bin_counts,
    detect_kind,
    freeze_column,
)
from ripcord.detect.batch_report import (
    DEFAULT_FLOOR,
    NO_FLOOR,
    ColumnResult,
    DriftReport,
    EffectFloor,
)
from ripcord.detect.multitest import CORRECTIONS, adjust
from ripcord.detect.windows import require_choice, require_int, require_number

#: scipy's ks_2samp(method="auto") is exact up to this many values in the larger sample.
EXACT_KS_MAX = 10_000
TOP_UNSEEN = 10
__all__ = [
    "DEFAULT_FLOOR",
    "NO_FLOOR",
    "ColumnResult",
    "DriftReport",
    "EffectFloor",
    "FrozenReference",
    "compare",
]


def _table(columns: object, parameter: str) -> dict[str, Values]:
    """Validate a table: a mapping of names to one-dimensional columns of one length."""
    if not isinstance(columns, Mapping):
        raise ValueError(f"{parameter}: expected a mapping of column name to values")
    table: dict[str, Values] = {}
    for name, values in columns.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{parameter}: column name {name!r} must be a non-empty string")
        array = np.asarray(values)
        if array.ndim != 1:
            raise ValueError(f"{parameter}.{name}: expected one dimension, got {array.shape}")
        table[name] = array
    lengths = {name: array.size for name, array in table.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{parameter}: columns differ in length: {lengths}")
    return table


@dataclass(frozen=True, eq=False)
class FrozenReference:
    """A reference table summarised once; compare any number of current tables with it."""

    columns: Mapping[str, Column]
    rows: int
    bins: int

    @classmethod
    def freeze(
        cls,
        columns: Mapping[str, npt.ArrayLike],
        *,
        kinds: Mapping[str, str] | None = None,
        bins: int = 10,
        discrete_levels: int = 10,
    ) -> FrozenReference:
        """Summarise `columns`. `kinds` overrides the kind of named columns ("numeric",
        "discrete" or "categorical"); `bins` is the number of PSI/JS quantile bins;
        numeric columns with at most `discrete_levels` distinct values (0: never) are
        compared as discrete."""
        table = _table(columns, "columns")
        if not table:
            raise ValueError("columns: the reference needs at least one column")
        require_int("bins", bins, low=2, high=1000)
        require_int("discrete_levels", discrete_levels, low=0)
        kinds = dict(kinds or {})
        for name, kind in kinds.items():
            if name not in table:
                raise ValueError(f"kinds.{name}: is not a column of the reference")
            require_choice(f"kinds.{name}", kind, KINDS)
        frozen = {
            name: freeze_column(
                values, kinds.get(name) or detect_kind(values, discrete_levels), bins
            )
            for name, values in table.items()
        }
        rows = next(iter(table.values())).size
        return cls(types.MappingProxyType(frozen), rows, bins)


@dataclass(frozen=True)
class _Settings:
    min_count: int
    floor: EffectFloor
    wasserstein: bool


def compare(
    reference: FrozenReference,
    current: Mapping[str, npt.ArrayLike],
    *,
    alpha: float = 0.05,
    correction: str = "bh",
    min_effect: EffectFloor | None = DEFAULT_FLOOR,
    min_count: int = 30,
    wasserstein: bool = False,
    workers: int | None = None,
) -> DriftReport:
    """Compare every reference column with the same column of `current`.

    `min_effect=None` drops the effect floor (p-values alone decide). `wasserstein=True`
    adds the Wasserstein distance of numeric columns (one merge of the two samples; always
    computed when the floor uses it). Columns run on `workers` threads (default: one per
    CPU, at most 8): numpy's sorts and searches release the GIL. Results do not depend on
    the number of workers."""
    if not isinstance(reference, FrozenReference):
        raise ValueError(f"reference: {type(reference).__name__} must be a FrozenReference")
    table = _table(current, "current")
    require_number("alpha", alpha, low=0.0, high=1.0, open_=True)
    require_choice("correction", correction, CORRECTIONS)
    require_int("min_count", min_count, low=1)
    if workers is not None:
        require_int("workers", workers, low=1, high=256)
    floor = NO_FLOOR if min_effect is None else min_effect
    if not isinstance(floor, EffectFloor):
        raise ValueError(f"min_effect: {min_effect!r} must be an EffectFloor or None")
    settings = _Settings(min_count, floor, wasserstein or floor.numeric == "wasserstein_sd")
    rows = next(iter(table.values())).size if table else 0
    raw = _run(reference, table, rows, settings, workers or min(os.cpu_count() or 1, 8))
    adjusted = adjust([r.p_value for r in raw], correction)
    results = tuple(_decide(r, float(p), alpha, floor) for r, p in zip(raw, adjusted, strict=True))
    unknown = tuple(sorted(set(table) - set(reference.columns)))
    return DriftReport(results, alpha, correction, floor, reference.rows, rows, unknown)


def _run(
    reference: FrozenReference,
    table: Mapping[str, Values],
    rows: int,
    settings: _Settings,
    workers: int,
) -> list[ColumnResult]:
    def one(name: str) -> ColumnResult:
        return _compare_column(name, reference.columns[name], table.get(name), rows, settings)

    if workers == 1 or len(reference.columns) == 1:
        return [one(name) for name in reference.columns]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, reference.columns))


def _decide(
    result: ColumnResult, p_adjusted: float, alpha: float, floor: EffectFloor
) -> ColumnResult:
    significant = bool(p_adjusted < alpha)  # NaN (not tested) compares False
    large_enough = bool(result.effect >= floor.for_kind(result.kind)[1])  # NaN: False
    drifted = significant and large_enough
    return replace(result, p_adjusted=p_adjusted, significant=significant, drifted=drifted)


def _compare_column(
    name: str, column: Column, values: Values | None, rows: int, settings: _Settings
) -> ColumnResult:
    note = ""
    if values is None:  # a column gone from the current table: every value missing
        values, note = np.full(rows, None, dtype=object), "absent from the current table"
    if isinstance(column, NumericColumn):
        result = _numeric(name, column, values, settings)
    else:
        result = _categorical(name, column, values, settings)
    return replace(result, note=note or result.note)


def _spread(
    reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]
) -> tuple[float, float]:
    """PSI (shares floored at stats.EPSILON) and JS distance over the same buckets."""
    if current.sum() == 0 or reference.sum() == 0:
        return math.nan, math.nan
    shares = stats.smoothed_shares
    return stats.psi(shares(reference), shares(current)), stats.jensen_shannon(reference, current)


def _numeric(name: str, ref: NumericColumn, values: Values, settings: _Settings) -> ColumnResult:
    x = as_float(values)
    cur = x[np.isfinite(x)]  # a copy, so it can be sorted in place
    cur.sort()
    n, m = ref.sorted.size, cur.size
    psi, js = _spread(ref.bin_counts, bin_counts(ref.edges, cur, x.size - m))
    effect_name, _ = settings.floor.for_kind("numeric")
    result = _untested(name, "numeric", effect_name, (n, m), (ref.missing, x.size - m), psi, js)
    if min(n, m) < settings.min_count:
        return replace(result, note=_too_few(n, m, settings.min_count))
    if ref.values.size <= m:  # search the side with fewer distinct values into the other
        d = stats.ks_sorted(ref.values, ref.cdf, cur)
    else:
        d = stats.ks_sorted(*stats.distinct_cdf(cur), ref.sorted)
    if max(n, m) <= EXACT_KS_MAX:
        test, p = "ks_exact", _exact_ks_pvalue(ref.sorted, cur)
    else:
        test, p = "ks_asymp", stats.ks_pvalue(d, n, m)
    w = stats.wasserstein_sorted(ref.sorted, cur) if settings.wasserstein else math.nan
    effects = {"ks_d": d, "psi": psi, "js": js, "wasserstein_sd": _in_sd(w, ref.std)}
    effect = effects[effect_name]
    return replace(result, test=test, statistic=d, p_value=p, effect=effect, wasserstein=w)


def _exact_ks_pvalue(reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]) -> float:
    with warnings.catch_warnings():  # scipy falls back to the asymptotic value and says so
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ks_2samp(reference, current, method="exact").pvalue)


def _in_sd(distance: float, sd: float) -> float:
    if math.isnan(distance):
        return math.nan
    return distance / sd if sd > 0 else (0.0 if distance == 0 else math.inf)


def _untested(
    name: str,
    kind: str,
    effect_name: str,
    counts: tuple[int, int],
    missing: tuple[int, int],
    psi: float,
    js: float,
) -> ColumnResult:
    """A result with its counts and spreads filled in, before (or without) a test."""
    return ColumnResult(
        column=name,
        kind=kind,
        test="none",
        statistic=math.nan,
        p_value=math.nan,
        effect_name=effect_name,
        effect=math.nan,
        n_reference=counts[0],
        n_current=counts[1],
        missing_reference=missing[0],
        missing_current=missing[1],
        psi=psi,
        js=js,
    )


def _too_few(n: int, m: int, min_count: int) -> str:
    return f"too few values to test: {n} in reference, {m} in current (min_count={min_count})"


def _categorical(
    name: str, ref: CategoricalColumn, values: Values, settings: _Settings
) -> ColumnResult:
    t: Tally = ref.tally(values)
    unseen_rows = int(t.unseen_counts.sum())
    reference = np.concatenate([ref.counts, np.zeros(t.unseen.size, np.int64)]).astype(float)
    current = np.concatenate([t.seen, t.unseen_counts]).astype(float)
    psi, js = _spread(
        np.concatenate([ref.counts, [0, ref.missing]]).astype(float),
        np.concatenate([t.seen, [unseen_rows, t.missing]]).astype(float),
    )
    top = np.argsort(-t.unseen_counts, kind="stable")[:TOP_UNSEEN]
    unseen = tuple((str(t.unseen[i]), int(t.unseen_counts[i])) for i in top)
    n, m = int(reference.sum()), int(current.sum())
    effect_name, _ = settings.floor.for_kind(ref.kind)
    result = _untested(name, ref.kind, effect_name, (n, m), (ref.missing, t.missing), psi, js)
    result = replace(result, unseen_rows=unseen_rows, unseen=unseen)
    if min(n, m) < settings.min_count:
        return replace(result, note=_too_few(n, m, settings.min_count))
    statistic, p, _ = stats.chi2_two_sample(*stats.pool_sparse(reference, current))
    effects = {"cramers_v": stats.cramers_v_balanced(reference, current), "psi": psi, "js": js}
    return replace(result, test="chi2", statistic=statistic, p_value=p, effect=effects[effect_name])
