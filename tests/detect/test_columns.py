"""The numeric column matrix gives the same drift as the per-column path it replaces."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ripcord.detect.columns import NumericColumns, to_matrix
from ripcord.detect.stats import NumericProfile, build_profile

ODD_VALUES = [None, math.nan, math.inf, -math.inf, True, "7", 3, 2.5]


def profiles(seed: int, columns: int) -> dict[str, NumericProfile]:
    rng = np.random.default_rng(seed)
    built = {}
    for j in range(columns):
        values: list[Any] = list(rng.normal(j, 1.0 + j, 400))
        values[::37] = [None] * len(values[::37])
        if j == 2:  # few distinct values: merged edges, fewer bins than the others
            values = [float(v) for v in rng.integers(0, 3, 400)]
        profile = build_profile(values, 10)
        assert isinstance(profile, NumericProfile)
        built[f"f{j}"] = profile
    return built


def window_rows(seed: int, n: int, columns: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        row: dict[str, Any] = {f"f{j}": float(rng.normal(j + 0.3, 1.0 + j)) for j in range(columns)}
        if i % 11 == 0:
            row[f"f{i % columns}"] = ODD_VALUES[i % len(ODD_VALUES)]
        if i % 13 == 0:
            del row["f1"]
        rows.append(row)
    return rows


@pytest.mark.parametrize("method", ["psi", "ks"])
@pytest.mark.parametrize("chunk", [1, 7, 500])
def test_matrix_matches_the_per_column_path(method: str, chunk: int) -> None:
    built = profiles(1, 4)
    rows = window_rows(2, 450, 4)
    columns = NumericColumns(300, built)
    for start in range(0, len(rows), chunk):
        columns.extend(rows[start : start + chunk])
    window = rows[-300:]
    got = columns.compare(method)
    for name, profile in built.items():
        expected = profile.compare([r.get(name) for r in window], method)
        assert got[name].missing == expected.missing
        assert got[name].count == expected.count
        assert got[name].statistic == pytest.approx(expected.statistic, rel=1e-12, abs=1e-15)
        assert got[name].window_mean == pytest.approx(expected.window_mean, rel=1e-12)
        if expected.p_value is None:
            assert got[name].p_value is None
        else:
            assert got[name].p_value == pytest.approx(expected.p_value, rel=1e-9)


def test_clear_forgets_the_window() -> None:
    built = profiles(3, 2)
    columns = NumericColumns(50, built)
    columns.extend(window_rows(4, 80, 2))
    columns.clear()
    columns.extend(window_rows(5, 20, 2))
    got = columns.compare("psi")
    expected = built["f0"].compare([r.get("f0") for r in window_rows(5, 20, 2)], "psi")
    assert got["f0"].count == 20
    assert got["f0"].statistic == pytest.approx(expected.statistic, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(ODD_VALUES) | st.floats(allow_nan=True), min_size=1, max_size=30))
def test_to_matrix_counts_what_split_numeric_counts_as_missing(values: list[Any]) -> None:
    from ripcord.detect.stats import split_numeric

    present, missing = split_numeric(values)
    matrix = to_matrix([[v] for v in values], 1)
    assert int(np.isnan(matrix).sum()) == missing
    assert sorted(matrix[~np.isnan(matrix)]) == sorted(present)


@pytest.mark.parametrize("width", [0, 1])
def test_zero_or_one_numeric_column_works(width: int) -> None:
    built = profiles(6, width)
    columns = NumericColumns(20, built)
    columns.extend(window_rows(7, 30, 2))  # extra features are ignored
    got = columns.compare("psi")
    assert sorted(got) == sorted(built)
