"""Multiple-testing correction: Benjamini-Hochberg against scipy, Bonferroni by hand, the
NaN convention for untested columns, and the invariants any correction must keep."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import false_discovery_control

from ripcord.detect import multitest
from ripcord.detect.multitest import adjust

p_lists = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=40)


@pytest.mark.parametrize("size", [1, 2, 7, 22, 500])
def test_bh_equals_scipy(size: int) -> None:
    rng = np.random.default_rng(size)
    p = np.concatenate([rng.uniform(size=size), rng.uniform(0, 1e-4, size=size // 3)])
    p[::5] = p[0]  # ties
    np.testing.assert_allclose(adjust(p, "bh"), false_discovery_control(p), rtol=1e-12)


def test_known_values() -> None:
    # The example of scipy's false_discovery_control documentation.
    assert adjust([0.5, 0.6, 0.1, 0.001], "bh").tolist() == pytest.approx([0.6, 0.6, 0.2, 0.004])
    assert adjust([0.5, 0.01, 0.2], "bonferroni").tolist() == pytest.approx([1.0, 0.03, 0.6])


def test_untested_entries_stay_nan_and_do_not_count() -> None:
    p = [0.01, float("nan"), 0.04, 0.03, float("nan")]
    for method in ("bh", "bonferroni"):
        out = adjust(p, method)
        assert np.isnan(out[[1, 4]]).all()
        np.testing.assert_allclose(out[[0, 2, 3]], adjust([0.01, 0.04, 0.03], method))
    assert np.isnan(adjust([float("nan")] * 3)).all()
    assert adjust([]).size == 0


@given(p_lists)
def test_invariants(p: list[float]) -> None:
    bh, bonferroni = adjust(p, "bh"), adjust(p, "bonferroni")
    raw = np.asarray(p)
    assert np.all(bh >= raw - 1e-15) and np.all(bh <= 1.0)
    assert np.all(bonferroni >= bh - 1e-15)
    order = np.argsort(raw, kind="stable")  # the ranking of the p-values is kept
    assert np.all(np.diff(bh[order]) >= -1e-15)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"p_values": [0.1], "method": "holm"}, "correction"),
        ({"p_values": [0.1, 1.5]}, "p_values"),
        ({"p_values": [-0.1]}, "p_values"),
        ({"p_values": [[0.1, 0.2]]}, "p_values"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name}:"):
        adjust(**kwargs)  # type: ignore[arg-type]


def test_doctests() -> None:
    assert doctest.testmod(multitest).failed == 0
