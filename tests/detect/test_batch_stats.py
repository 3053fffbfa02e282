"""The two-sample statistics behind batch drift against scipy, on seeded data with ties and
unequal sizes: KS D and its p-value, contingency chi-square, Wasserstein, Jensen-Shannon,
Cramer's V; and the PSI the streaming detectors compute."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, chisquare, ks_2samp, wasserstein_distance
from scipy.stats.contingency import association

from ripcord.detect import stats
from ripcord.detect.batch import FrozenReference, compare
from ripcord.detect.batch_columns import bin_counts

TOL = 1e-9


def samples(seed: int, n: int, m: int, tied: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if tied:  # integers: ties inside and across the samples
        return rng.poisson(8, n).astype(float), rng.poisson(8.5, m).astype(float)
    return rng.normal(0, 1, n), rng.normal(0.1, 1.2, m)


CASES = [(1, 5000, 700, False), (2, 300, 4000, False), (3, 2000, 2001, True), (4, 50, 9000, True)]


@pytest.mark.parametrize(("seed", "n", "m", "tied"), CASES)
def test_ks_statistic_matches_scipy_both_ways(seed: int, n: int, m: int, tied: bool) -> None:
    a, b = samples(seed, n, m, tied)
    a, b = np.sort(a), np.sort(b)
    expected = ks_2samp(a, b).statistic
    assert stats.ks_sorted(*stats.distinct_cdf(a), b) == pytest.approx(expected, abs=1e-15)
    assert stats.ks_sorted(*stats.distinct_cdf(b), a) == pytest.approx(expected, abs=1e-15)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scipy's p-value on tiny samples
@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=60),
    st.lists(st.integers(0, 6), min_size=1, max_size=60),
)
def test_ks_statistic_on_heavy_ties(a: list[int], b: list[int]) -> None:
    x, y = np.sort(np.array(a, float)), np.sort(np.array(b, float))
    expected = ks_2samp(x, y).statistic
    assert stats.ks_sorted(*stats.distinct_cdf(x), y) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(("seed", "n", "m", "tied"), CASES)
def test_wasserstein_matches_scipy(seed: int, n: int, m: int, tied: bool) -> None:
    a, b = samples(seed, n, m, tied)
    got = stats.wasserstein_sorted(np.sort(a), np.sort(b))
    assert got == pytest.approx(wasserstein_distance(a, b), rel=TOL)


@given(
    st.lists(st.integers(-3, 3), min_size=1, max_size=40),
    st.lists(st.integers(-3, 3), min_size=1, max_size=40),
)
def test_wasserstein_on_heavy_ties(a: list[int], b: list[int]) -> None:
    x, y = np.array(a, float), np.array(b, float)
    got = stats.wasserstein_sorted(np.sort(x), np.sort(y))
    assert got == pytest.approx(wasserstein_distance(x, y), rel=TOL, abs=1e-12)


@pytest.mark.parametrize(
    "table",
    [
        [[120, 340, 50, 9], [30, 110, 25, 1]],  # several categories
        [[500, 480], [40, 70]],  # one degree of freedom: Yates' correction
        [[500, 480], [490, 490]],  # small gap: the correction is capped at 0.5
        [[10, 0, 5], [0, 7, 0]],  # a category only one side has
        [[10, 0, 5], [3, 0, 6]],  # a category neither side has is dropped
    ],
)
def test_chi2_matches_chi2_contingency(table: list[list[int]]) -> None:
    observed = np.array(table, dtype=float)
    statistic, p, dof = stats.chi2_two_sample(observed[0], observed[1])
    kept = observed[:, observed.sum(axis=0) > 0]
    expected = chi2_contingency(kept)
    assert statistic == pytest.approx(expected.statistic, rel=TOL)
    assert p == pytest.approx(expected.pvalue, rel=TOL)
    assert dof == expected.dof


@pytest.mark.parametrize(
    "table",
    [
        [[120, 340, 50, 9], [30, 110, 25, 1]],
        [[10, 0, 5], [0, 7, 0]],
        [[4000, 2500, 1200, 300], [90, 60, 20, 30]],  # a current table far smaller
    ],
)
def test_chi2_is_scipys_chisquare_over_the_cells(table: list[list[int]]) -> None:
    """Where `chisquare` defines the same quantity: the Pearson statistic over the cells of
    the table against the counts its margins expect, with the k degrees of freedom the
    margins take (no continuity correction, so more than one degree of freedom)."""
    observed = np.array(table, dtype=float)
    statistic, p, dof = stats.chi2_two_sample(observed[0], observed[1])
    kept = observed[:, observed.sum(axis=0) > 0]
    expected = np.outer(kept.sum(axis=1), kept.sum(axis=0)) / kept.sum()
    result = chisquare(kept.ravel(), expected.ravel(), ddof=kept.size - 1 - dof)
    assert dof > 1
    assert statistic == pytest.approx(result.statistic, rel=TOL)
    assert p == pytest.approx(result.pvalue, rel=TOL)


def test_chi2_degenerate_tables() -> None:
    assert stats.chi2_two_sample(np.array([5.0]), np.array([9.0])) == (0.0, 1.0, 0)
    assert stats.chi2_two_sample(np.array([5.0, 1.0]), np.array([0.0, 0.0]))[1] == 1.0


def test_pooling_merges_only_sparse_categories() -> None:
    ref = np.array([400.0, 300.0, 2.0, 1.0, 0.0])
    cur = np.array([100.0, 80.0, 0.0, 1.0, 3.0])
    pooled_ref, pooled_cur = stats.pool_sparse(ref, cur)
    assert pooled_ref.tolist() == [400.0, 300.0, 3.0]
    assert pooled_cur.tolist() == [100.0, 80.0, 4.0]
    dense = np.array([50.0, 60.0]), np.array([40.0, 70.0])
    same = stats.pool_sparse(*dense)  # nothing sparse: unchanged
    assert same[0] is dense[0] and same[1] is dense[1]


def test_jensen_shannon_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        p, q = rng.integers(0, 50, 12).astype(float), rng.integers(0, 50, 12).astype(float)
        p[3] = 0.0  # empty buckets on one or both sides
        q[3:5] = 0.0
        expected = jensenshannon(p, q, base=2.0)
        assert stats.jensen_shannon(p, q) == pytest.approx(expected, rel=TOL, abs=1e-15)
    assert stats.jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)


def test_balanced_cramers_v_is_cramers_v_for_equal_sizes() -> None:
    a, b = np.array([300.0, 200.0, 100.0]), np.array([250.0, 150.0, 200.0])
    expected = association(np.vstack([a, b]).astype(int), method="cramer")
    assert stats.cramers_v_balanced(a, b) == pytest.approx(expected, rel=TOL)
    # and it does not shrink when the current sample is 10 times larger
    assert stats.cramers_v_balanced(a, b * 10) == pytest.approx(expected, rel=TOL)
    assert stats.cramers_v_balanced(a, a * 7) == 0.0


def test_compare_psi_equals_the_streaming_profile() -> None:
    """Batch and streaming detectors measure PSI the same way (bins, missing bucket)."""
    rng = np.random.default_rng(6)
    ref = rng.normal(0, 1, 2000)
    cur = rng.normal(0.4, 1, 500)
    cur[:7] = np.nan
    report = compare(FrozenReference.freeze({"x": ref}), {"x": cur})
    streaming = stats.NumericProfile(ref.tolist(), 10).compare(cur.tolist(), "psi")
    assert report["x"].psi == pytest.approx(streaming.statistic, rel=1e-12)


def test_compare_js_over_the_psi_buckets() -> None:
    rng = np.random.default_rng(7)
    ref, cur = rng.exponential(1, 3000), rng.exponential(1.3, 800)
    edges = stats.quantile_edges(np.sort(ref), 10)
    ref_buckets = np.append(np.bincount(np.searchsorted(edges, ref, "right"), minlength=10), 0)
    cur_buckets = np.append(np.bincount(np.searchsorted(edges, cur, "right"), minlength=10), 0)
    assert np.array_equal(bin_counts(edges, np.sort(cur), 0), cur_buckets)
    report = compare(FrozenReference.freeze({"x": ref}), {"x": cur})
    assert report["x"].js == pytest.approx(jensenshannon(ref_buckets, cur_buckets, base=2), rel=TOL)
