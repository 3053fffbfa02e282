"""Batch drift end to end: p-values equal to a per-column scipy loop, the right columns
flagged on seeded tables, the effect floor, missing and unseen values, kinds, and
parameter validation."""

from __future__ import annotations

import doctest
import json
from typing import Any

import numpy as np
import pytest
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from ripcord.detect import batch
from ripcord.detect.batch import EffectFloor, FrozenReference, compare
from ripcord.detect.multitest import adjust

TIERS = np.array(["basic", "gold", "plus", "pro", "silver"])


def table(seed: int, rows: int, *, shifted: bool = False) -> dict[str, np.ndarray]:
    """Eight numeric columns (two tied, one with missing values) and two categorical ones;
    when `shifted`, n0, n1, n2 and c0 move."""
    rng = np.random.default_rng(seed)
    out = {f"n{i}": rng.normal(0, 1, rows) for i in range(6)}
    out["t0"] = rng.poisson(6, rows).astype(float)
    out["t1"] = rng.poisson(15, rows).astype(float)
    out["n5"][rng.random(rows) < 0.02] = np.nan
    out["c0"] = rng.choice(
        TIERS, rows, p=[0.2] * 5 if not shifted else [0.4, 0.15, 0.15, 0.15, 0.15]
    )
    out["c1"] = rng.choice(TIERS, rows)
    if shifted:
        out["n0"] = out["n0"] + 0.5
        out["n1"] = out["n1"] * 1.6
        out["n2"] = rng.exponential(1, rows) - 1  # same mean and SD, another shape
    return out


def scipy_p_values(ref: dict[str, np.ndarray], cur: dict[str, np.ndarray]) -> dict[str, float]:
    out = {}
    for name, a in ref.items():
        b = cur[name]
        if a.dtype.kind == "f":
            out[name] = ks_2samp(a[~np.isnan(a)], b[~np.isnan(b)], method="asymp").pvalue
        else:
            labels, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
            counts = [
                np.bincount(part, minlength=labels.size)
                for part in (codes[: a.size], codes[a.size :])
            ]
            out[name] = chi2_contingency(np.vstack(counts)).pvalue
    return out


@pytest.fixture(scope="module")
def frozen() -> tuple[dict[str, np.ndarray], FrozenReference]:
    ref = table(1, 20_000)
    return ref, FrozenReference.freeze(ref)


def test_p_values_equal_a_scipy_loop(frozen: tuple[dict[str, np.ndarray], FrozenReference]) -> None:
    ref, reference = frozen
    cur = table(2, 15_000, shifted=True)
    report = compare(reference, cur, correction="bonferroni")
    expected = scipy_p_values(ref, cur)
    for result in report.columns:
        assert result.test == ("ks_asymp" if result.kind == "numeric" else "chi2")
        assert result.p_value == pytest.approx(expected[result.column], rel=1e-9, abs=1e-300)
    flagged_by_scipy = {name for name, p in expected.items() if p < 0.05 / len(expected)}
    assert set(report.drifted) == flagged_by_scipy == {"n0", "n1", "n2", "c0"}


def test_unchanged_table_raises_nothing(
    frozen: tuple[dict[str, np.ndarray], FrozenReference],
) -> None:
    _, reference = frozen
    for seed in range(3, 8):
        report = compare(reference, table(seed, 20_000))
        assert report.drifted == (), seed
        assert report.untested == ()


def test_small_samples_get_the_exact_ks_p_value() -> None:
    rng = np.random.default_rng(9)
    ref, cur = rng.normal(0, 1, 800), rng.normal(0.3, 1, 300)
    result = compare(FrozenReference.freeze({"x": ref}), {"x": cur})["x"]
    assert result.test == "ks_exact"
    assert result.p_value == pytest.approx(ks_2samp(ref, cur).pvalue, rel=1e-9)


def test_effect_floor_keeps_a_trivial_shift_quiet() -> None:
    """At 200,000 rows a 0.03 SD shift is 'significant' but far below KS D = 0.1."""
    rng = np.random.default_rng(10)
    ref = {"x": rng.normal(0, 1, 200_000), "c": rng.choice(["a", "b"], 200_000, p=[0.5, 0.5])}
    cur = {"x": rng.normal(0.03, 1, 200_000), "c": rng.choice(["a", "b"], 200_000, p=[0.52, 0.48])}
    reference = FrozenReference.freeze(ref)
    report = compare(reference, cur)
    for name in ("x", "c"):
        assert report[name].significant and not report[name].drifted
        assert report[name].effect < 0.1
    assert compare(reference, cur, min_effect=None).drifted == ("x", "c")
    wasserstein = EffectFloor(numeric="wasserstein_sd", numeric_min=0.02)
    result = compare(reference, cur, min_effect=wasserstein)["x"]
    assert result.effect_name == "wasserstein_sd" and result.drifted
    assert result.effect == pytest.approx(result.wasserstein / ref["x"].std())
    assert result.wasserstein == pytest.approx(wasserstein_distance(ref["x"], cur["x"]), rel=1e-9)


def test_corrections(frozen: tuple[dict[str, np.ndarray], FrozenReference]) -> None:
    _, reference = frozen
    cur = table(11, 3_000, shifted=True)
    bh, bonferroni = compare(reference, cur), compare(reference, cur, correction="bonferroni")
    p = [r.p_value for r in bh.columns]
    assert [r.p_adjusted for r in bh.columns] == adjust(p, "bh").tolist()
    assert [r.p_adjusted for r in bonferroni.columns] == adjust(p, "bonferroni").tolist()


def test_missing_values_are_counted_not_crashed_on() -> None:
    ref = {
        "num": np.array(
            [*np.linspace(0, 1, 80), *[None] * 10, *[float("nan")] * 5, *[float("inf")] * 5],
            dtype=object,
        ),
        "cat": np.array(["a", None, "b", float("nan"), "a"] * 20, dtype=object),
    }
    cur = {
        "num": np.array([*np.linspace(2, 3, 60), *["oops", None] * 30], dtype=object),  # text too
        "cat": np.array(["a", None, "c", "c"] * 30, dtype=object),
    }
    report = compare(FrozenReference.freeze(ref), cur, min_count=10)
    num, cat = report["num"], report["cat"]
    assert (num.kind, num.missing_reference, num.missing_current) == ("numeric", 20, 60)
    assert (num.n_reference, num.n_current) == (80, 60) and num.drifted
    assert (cat.kind, cat.missing_reference, cat.missing_current) == ("categorical", 40, 30)
    assert cat.unseen == (("c", 60),) and cat.unseen_rows == 60
    assert cat.drifted and cat.test == "chi2"


def test_all_missing_absent_and_unknown_columns() -> None:
    rng = np.random.default_rng(12)
    reference = FrozenReference.freeze({"x": rng.normal(size=500), "y": rng.normal(size=500)})
    report = compare(reference, {"x": np.full(400, np.nan), "z": np.zeros(400)})
    assert report.untested == ("x", "y")
    assert report.unknown == ("z",)
    assert report["y"].note == "absent from the current table"
    assert report["x"].missing_current == 400 and report["y"].missing_current == 400
    assert np.isnan(report["x"].p_value) and np.isnan(report["x"].p_adjusted)
    assert report["x"].psi > 5  # everything in the missing bucket
    assert report.drifted == ()
    with pytest.raises(KeyError):
        report["nope"]


def test_untested_columns_do_not_count_in_the_correction() -> None:
    rng = np.random.default_rng(13)
    ref = {"a": rng.normal(size=1000), "b": rng.normal(size=1000), "sparse": rng.normal(size=1000)}
    cur = {
        "a": rng.normal(0.3, 1, 1000),
        "b": rng.normal(size=1000),
        "sparse": np.full(1000, np.nan),
    }
    cur["sparse"][:10] = 0.0
    report = compare(FrozenReference.freeze(ref), cur, correction="bonferroni", min_count=30)
    assert report.untested == ("sparse",)
    assert "too few values" in report["sparse"].note
    assert report["a"].p_adjusted == pytest.approx(min(1.0, 2 * report["a"].p_value))


def test_kinds_are_chosen_and_can_be_forced() -> None:
    rng = np.random.default_rng(14)
    ref = {
        "rating": rng.integers(1, 6, 2000),  # five levels: discrete
        "amount": rng.normal(size=2000),
        "flag": rng.random(2000) < 0.3,
        "objects": np.array(list(rng.normal(size=2000)), dtype=object),
    }
    reference = FrozenReference.freeze(ref)
    kinds = {name: column.kind for name, column in reference.columns.items()}
    assert kinds == {
        "rating": "discrete",
        "amount": "numeric",
        "flag": "categorical",
        "objects": "numeric",
    }
    forced = FrozenReference.freeze(ref, kinds={"rating": "numeric"}, discrete_levels=0)
    assert forced.columns["rating"].kind == "numeric"
    # the same levels arriving as floats (with NaN) are the same categories
    cur = {**ref, "rating": np.where(rng.random(2000) < 0.1, np.nan, ref["rating"].astype(float))}
    rating = compare(reference, cur)["rating"]
    assert rating.test == "chi2" and rating.unseen == () and rating.missing_current > 100
    assert not rating.drifted


def test_text_and_numbers_are_the_same_categories() -> None:
    reference = FrozenReference.freeze({"code": np.array([1, 2, 3, "x"] * 50, dtype=object)})
    report = compare(reference, {"code": np.array(["1", "2", "3", "x"] * 40)})
    assert report["code"].unseen == () and report["code"].effect == 0.0


def test_many_categories_use_the_searched_path() -> None:
    rng = np.random.default_rng(15)
    labels = np.array([f"k{i:03d}" for i in range(60)])
    ref, cur = rng.choice(labels, 5000), rng.choice(np.append(labels, "new"), 5000)
    result = compare(FrozenReference.freeze({"k": ref}), {"k": cur})["k"]
    assert result.unseen[0][0] == "new" and result.unseen_rows == result.unseen[0][1] > 0
    assert result.n_current == 5000


def test_workers_do_not_change_results(
    frozen: tuple[dict[str, np.ndarray], FrozenReference],
) -> None:
    _, reference = frozen
    cur = table(16, 5_000, shifted=True)
    one = compare(reference, cur, workers=1, wasserstein=True)
    four = compare(reference, cur, workers=4, wasserstein=True)
    assert one.as_dict() == four.as_dict()


def test_report_is_json_ready(frozen: tuple[dict[str, np.ndarray], FrozenReference]) -> None:
    _, reference = frozen
    data = compare(reference, table(17, 2_000, shifted=True)).as_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["drifted"] == data["drifted"]
    assert data["columns"][0]["wasserstein"] is None  # not asked for


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"correction": "holm"}, "correction"),
        ({"min_count": 0}, "min_count"),
        ({"workers": 0}, "workers"),
        ({"min_effect": 0.1}, "min_effect"),
    ],
)
def test_compare_names_bad_parameters(kwargs: dict[str, Any], name: str) -> None:
    reference = FrozenReference.freeze({"x": np.arange(50.0)})
    with pytest.raises(ValueError, match=f"^{name}:"):
        compare(reference, {"x": np.arange(50.0)}, **kwargs)


@pytest.mark.parametrize(
    ("columns", "kwargs", "name"),
    [
        ({}, {}, "columns"),
        ([1, 2], {}, "columns"),
        ({"x": np.zeros((2, 2))}, {}, "columns.x"),
        ({"x": [1.0, 2.0], "y": [1.0]}, {}, "columns"),
        ({"x": [1.0]}, {"bins": 1}, "bins"),
        ({"x": [1.0]}, {"discrete_levels": -1}, "discrete_levels"),
        ({"x": [1.0]}, {"kinds": {"y": "numeric"}}, "kinds.y"),
        ({"x": [1.0]}, {"kinds": {"x": "ordinal"}}, "kinds.x"),
    ],
)
def test_freeze_names_bad_parameters(columns: Any, kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name}:"):
        FrozenReference.freeze(columns, **kwargs)


def test_other_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="^reference:"):
        compare({"x": [1.0]}, {"x": [1.0]})  # type: ignore[arg-type]
    reference = FrozenReference.freeze({"x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="^current:"):
        compare(reference, {"x": [1.0], "y": [1.0, 2.0]})
    with pytest.raises(ValueError, match="^numeric:"):
        EffectFloor(numeric="cramers_v")
    with pytest.raises(ValueError, match="^categorical_min:"):
        EffectFloor(categorical_min=-1.0)


def test_doctests() -> None:
    assert doctest.testmod(batch).failed == 0
