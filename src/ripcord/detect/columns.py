"""The numeric columns of a feature-drift window, kept as one matrix as events arrive.

A feature-drift check compares every column of the last `window` events with its frozen
reference profile. Building each column from the window's feature dicts at every check
cost 30 dict lookups per event per column at the default cadence (window 300, a check every
10 events); here each event's numbers are converted once, when it enters, into a ring of
`window` rows, and a check bins every numeric column in a few numpy calls over that matrix.

The numbers follow `stats.split_numeric`: None, non-finite floats, bools and anything that
is not a real number count as missing (NaN in the matrix), so a reading is the same as the
per-column path would give. Row order inside the ring does not matter to any statistic.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from ripcord.detect.stats import (
    EPSILON,
    ColumnDrift,
    FloatArray,
    NumericProfile,
    is_number,
    ks_pvalue,
    ks_statistic,
)
from ripcord.events import FeatureValue

_FAST_TYPES = frozenset({float, int, type(None)})


def to_matrix(rows: Sequence[Sequence[Any]], width: int) -> FloatArray:
    """Rows of feature values as floats, NaN where a value is missing or not a number."""
    if not rows:
        return np.empty((0, width), dtype=np.float64)
    flat = list(chain.from_iterable(rows))  # one flat list: each pass below is one C loop
    types = set(map(type, flat))
    if types == {float}:  # the common case, and the quickest conversion
        matrix = np.fromiter(flat, dtype=np.float64, count=len(flat)).reshape(len(rows), width)
    elif types <= _FAST_TYPES:
        matrix = np.array(flat, dtype=np.float64).reshape(len(rows), width)  # None: NaN
    else:
        matrix = np.array(
            [[float(v) if is_number(v) else np.nan for v in row] for row in rows],
            dtype=np.float64,
        )
    matrix[~np.isfinite(matrix)] = np.nan
    return matrix


@dataclass(frozen=True)
class NumericDrift:
    """The numeric columns' comparison at one check (see `NumericColumns`): the statistics
    as arrays, and a copy of the window's values from which the rest of the evidence (means,
    missing counts) is worked out only when someone reads it."""

    source: NumericColumns
    method: str
    statistic: FloatArray
    data: FloatArray  # the window's values at the check, NaN where missing
    p_values: FloatArray | None

    def drifts(self) -> dict[str, ColumnDrift]:
        present = ~np.isnan(self.data)
        counts = present.sum(axis=0)
        sums = np.where(present, self.data, 0.0).sum(axis=0)
        n = len(self.data)
        return {
            column: ColumnDrift(
                float(self.statistic[j]),
                self.method,
                "numeric",
                n,
                n - int(counts[j]),
                self.source.profiles[j].mean,
                float(sums[j] / counts[j]) if counts[j] else None,
                None if self.p_values is None else float(self.p_values[j]),
            )
            for j, column in enumerate(self.source.columns)
        }


class NumericColumns:
    """The last `window` rows of the numeric reference columns, and their comparison.

    Bins are padded to the widest column: a padded bin is empty in both the reference and
    the window, so after smoothing both shares are EPSILON and its PSI term is exactly 0.
    """

    def __init__(self, window: int, profiles: Mapping[str, NumericProfile]) -> None:
        self.columns = tuple(profiles)
        self.profiles = tuple(profiles.values())
        self.window = window
        k = len(self.columns)
        self._data = np.full((window, k), np.nan)
        self._pos = 0
        self._size = 0
        bins = max((p.edges.size + 1 for p in self.profiles), default=1)
        self._edges = np.full((k, bins - 1), np.inf)
        self._reference = np.full((k, bins + 1), EPSILON)  # the last slot: missing values
        for j, profile in enumerate(self.profiles):
            e = profile.edges.size
            self._edges[j, :e] = profile.edges
            self._reference[j, : e + 1] = profile.shares[:-1]
            self._reference[j, -1] = profile.shares[-1]
        self._offsets = np.arange(k) * (bins + 1)
        # Each row's bucket per column, and the window's bucket counts, kept as rows come
        # and go, so a PSI check is O(columns x bins) whatever the window.
        self._codes = np.zeros((window, k), dtype=np.intp)
        self._counts = np.zeros(k * (bins + 1), dtype=np.int64)
        self._pending: list[Mapping[str, FeatureValue]] = []
        # itemgetter of two keys or more gives a tuple; of one, the bare value
        self._getter = operator.itemgetter(*self.columns) if k > 1 else None
        self._single = operator.itemgetter(self.columns[0]) if k == 1 else None

    def extend(self, features: Sequence[Mapping[str, FeatureValue]]) -> None:
        """Take rows; they are converted in one go at the next comparison, so a row fed on
        its own (the guard's path) costs a list append, not a dozen numpy calls."""
        self._pending.extend(features)
        if len(self._pending) > self.window:
            del self._pending[: -self.window]

    def _take_pending(self) -> None:
        features, self._pending = self._pending, []
        self._push(*self._convert(self._rows(features)))

    def _convert(self, rows: Sequence[Sequence[Any]]) -> tuple[FloatArray, npt.NDArray[np.intp]]:
        """Rows as a matrix, and each value's bucket as an index into the counts."""
        matrix = to_matrix(rows, len(self.columns))
        return matrix, self._bucket(matrix) + self._offsets

    def psi_reads(
        self, features: Sequence[Mapping[str, FeatureValue]], counts: Sequence[int]
    ) -> list[NumericDrift]:
        """Take `features`, and the PSI table after the first `c` of them for each of the
        ascending `counts`: what `extend` and `table("psi")` would give there, with the
        whole batch converted and bucketed once rather than once per table."""
        if not counts:
            self.extend(features)
            return []
        last = counts[-1]
        pending, self._pending = self._pending, []
        # rows still pending go in with the first stretch, rows after the last table stay
        # pending: the ring takes the same stretches as through `extend` and `table`
        matrix, codes = self._convert(self._rows([*pending, *features[:last]]))
        windows, sizes, data, start = [], [], [], 0
        for stop in counts:
            end = len(pending) + stop
            self._push(matrix[start:end], codes[start:end])
            windows.append(self._counts.copy())
            sizes.append(max(self._size, 1))
            data.append(self._data[: self._size].copy())
            start = end
        self.extend(features[last:])
        statistics = self._psi_of(np.stack(windows), np.array(sizes))  # all tables at once
        return [
            NumericDrift(self, "psi", stat, d, None)
            for stat, d in zip(statistics, data, strict=True)
        ]

    def _push(self, matrix: FloatArray, codes: npt.NDArray[np.intp]) -> None:
        """Write converted rows into the ring, the oldest rows leaving the counts."""
        if not len(matrix):
            return
        if len(matrix) > self.window:  # as in `extend`: rows that would be overwritten
            matrix, codes = matrix[-self.window :], codes[-self.window :]
        at = (self._pos + np.arange(len(matrix))) % self.window
        size = self._counts.size
        if self._size + len(matrix) > self.window:  # rows about to be overwritten leave
            leaving = at[self.window - self._size :]  # the empty slots fill first
            self._counts -= np.bincount(self._codes[leaving].ravel(), minlength=size)
        self._counts += np.bincount(codes.ravel(), minlength=size)
        self._codes[at] = codes
        self._data[at] = matrix
        self._pos = (self._pos + len(matrix)) % self.window
        self._size = min(self._size + len(matrix), self.window)

    def _rows(self, features: Sequence[Mapping[str, FeatureValue]]) -> list[Sequence[Any]]:
        """Each row's values in column order, None where a feature is absent."""
        try:  # every column present, the common case: one C call per row
            if self._getter is not None:
                return list(map(self._getter, features))
            if self._single is not None:  # one column: the bare value, as a 1-tuple
                return list(zip(map(self._single, features)))
        except KeyError:
            pass
        return [[f.get(c) for c in self.columns] for f in features]

    def clear(self) -> None:
        self._pending.clear()
        self._data.fill(np.nan)
        self._counts.fill(0)
        self._pos = self._size = 0

    def compare(self, method: str) -> dict[str, ColumnDrift]:
        return self.table(method).drifts()

    def table(self, method: str) -> NumericDrift:
        """Every numeric column's statistic against its reference, as arrays: a snapshot
        that stays true while the window moves on."""
        if self._pending:
            self._take_pending()
        return self._snapshot(method)

    def _snapshot(self, method: str) -> NumericDrift:
        data = self._data[: self._size]
        p_values: FloatArray | None = None
        if method == "ks":
            present = ~np.isnan(data)
            pairs = [self._ks(data[:, j], present[:, j], j) for j in range(len(self.columns))]
            statistic = np.array([d for d, _ in pairs], dtype=np.float64)
            p_values = np.array([p for _, p in pairs], dtype=np.float64)
        else:
            statistic = self._psi()
        return NumericDrift(self, method, statistic, data.copy(), p_values)

    def _bucket(self, matrix: FloatArray) -> npt.NDArray[np.intp]:
        """Each value's bucket: the number of inner edges <= it (searchsorted, side
        "right"), or the last slot for a missing value."""
        codes: npt.NDArray[np.intp] = (matrix[:, :, None] >= self._edges[None, :, :]).sum(axis=2)
        codes[np.isnan(matrix)] = self._reference.shape[1] - 1
        return codes

    def _psi(self) -> FloatArray:
        result: FloatArray = self._psi_of(self._counts[None], np.array([max(self._size, 1)]))[0]
        return result

    def _psi_of(self, counts: npt.NDArray[np.int64], sizes: npt.NDArray[np.intp]) -> FloatArray:
        """PSI of each column for each row of window `counts` holding `sizes` values: the
        same elementwise arithmetic and the same sums over each column's bins, whether
        one table is read or a batch's worth."""
        window = counts.reshape(len(counts), *self._reference.shape) / sizes[:, None, None]
        window = np.maximum(window, EPSILON)
        reference = self._reference
        # np.add.reduce is what np.sum calls, without the wrapper's cost at each check
        result: FloatArray = np.add.reduce((window - reference) * np.log(window / reference), 2)
        return result

    def _ks(self, column: FloatArray, present: np.ndarray, j: int) -> tuple[float, float]:
        values = column[present]
        reference = self.profiles[j].sorted
        if not values.size:  # a column gone entirely missing: the largest gap, D = 1
            return 1.0, 0.0
        d = ks_statistic(reference, values)
        return d, ks_pvalue(d, reference.size, values.size)
