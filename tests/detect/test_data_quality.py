"""Data quality against the frozen reference: nulls, type changes, range, unseen categories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ripcord.detect import DataQualityDetector
from ripcord.detect.base import DetectorRegistry, Reference
from ripcord.events import InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop

Event = Callable[..., InferenceEvent]


def rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Calm inputs: a number, a category, a flag, an id (free text) and a sometimes-null."""
    rng = np.random.default_rng(seed)
    return [
        {
            "amount": float(rng.gamma(2.0, 30.0)),
            "country": str(rng.choice(["FR", "DE", "ES", "IT"])),
            "vip": bool(rng.random() < 0.1),
            "session": f"s{seed}-{i}",
            "coupon": None if rng.random() < 0.2 else float(rng.integers(5, 50)),
        }
        for i in range(n)
    ]


def reference_of(features: list[dict[str, Any]]) -> Reference:
    reference = Reference(len(features))
    for f in features:
        reference.add(f, 0)
    return reference


REFERENCE = reference_of(rows(1000, seed=1))


def detector(**params: Any) -> DataQualityDetector:
    return DataQualityDetector(name="dq", window=200, reference=REFERENCE, **params)


def fed(d: DataQualityDetector, event: Event, features: list[dict[str, Any]]) -> None:
    for i, f in enumerate(features):
        d.observe(event(i, features=f))


def test_calm_traffic_is_quiet_despite_nulls_ids_and_rare_values(event: Event) -> None:
    d = detector()
    fed(d, event, rows(3000, seed=2))
    reading = d.check()
    assert reading is not None and not reading.breached and reading.value < 0.03
    # coupon is 20 % null in the reference too, and every session id is new, as always
    assert {r["feature"] for r in reading.evidence["worst_features"]} >= {"session", "coupon"}


@pytest.mark.parametrize(
    ("breakage", "feature", "kind"),
    [
        (lambda f: {k: v for k, v in f.items() if k != "amount"}, "amount", "null"),
        (lambda f: {**f, "country": None}, "country", "null"),
        (lambda f: {**f, "amount": str(f["amount"])}, "amount", "type"),
        (lambda f: {**f, "vip": int(f["vip"])}, "vip", "type"),
        (lambda f: {**f, "amount": f["amount"] * 1000 + 1000}, "amount", "range"),
        (lambda f: {**f, "country": f["country"].lower()}, "country", "unseen"),
    ],
)
def test_each_kind_of_breakage_is_flagged_and_named(
    event: Event, breakage: Callable[[dict[str, Any]], dict[str, Any]], feature: str, kind: str
) -> None:
    d = detector()
    calm = rows(200, seed=3)
    broken = [breakage(f) if i % 2 else f for i, f in enumerate(calm)]  # half of them
    fed(d, event, broken)
    reading = d.check()
    assert reading is not None and reading.breached
    worst = reading.evidence["worst_features"][0]
    assert worst["feature"] == feature and reading.evidence["bad_features"] == [feature]
    assert worst[kind] == pytest.approx(0.5, abs=0.02)
    assert reading.value == pytest.approx(0.5 - worst["expected_share"], abs=0.02)


def test_a_nan_counts_as_a_null_and_the_range_can_be_widened(event: Event) -> None:
    d = detector(checks=["null"])
    fed(d, event, [{**f, "amount": float("nan")} for f in rows(50, seed=4)])
    reading = d.check()
    assert reading is not None and reading.evidence["worst_features"][0]["null"] == 1.0
    high = max(v for v in REFERENCE.features["amount"] if isinstance(v, float))
    wide = detector(range_margin=0.5, checks=["range"])
    fed(wide, event, [{**f, "amount": high * 1.2} for f in rows(50, seed=5)])
    quiet = wide.check()
    assert quiet is not None and quiet.value == 0.0


def test_reads_once_the_reference_froze_and_scores_what_waited(event: Event) -> None:
    reference = Reference(100)
    d = DataQualityDetector(name="dq", window=50, reference=reference)
    fed(d, event, [{**f, "amount": None} for f in rows(40, seed=6)])
    assert d.check() is None  # no reference yet
    for f in rows(100, seed=7):
        reference.add(f, 0)
    reading = d.check()
    assert reading is not None and reading.window == 40 and reading.breached


def test_shadow_copies_are_not_counted_twice(event: Event) -> None:
    d = detector(min_events=1)
    d.observe(event(0, features={"amount": None}, route=Route.SHADOW))
    assert d.check() is None
    d.observe(event(1, features={"amount": None}, route=Route.BLOCKED))
    reading = d.check()
    assert reading is not None and reading.window == 1


def test_the_window_forgets_old_breakage(event: Event) -> None:
    d = detector()
    fed(d, event, [{**f, "amount": None} for f in rows(200, seed=8)])
    fed(d, event, rows(200, seed=9))
    reading = d.check()
    assert reading is not None and not reading.breached


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"checks": ["null", "bogus"]}, r"^checks: \['null', 'bogus'\] must be a non-empty list"),
        ({"checks": "null"}, r"^checks: 'null' must be a non-empty list"),
        ({"checks": []}, r"^checks: \[\] must be a non-empty list"),
        ({"range_margin": -0.1}, r"^range_margin: -0\.1 must be in \[0, 100\]"),
        ({"min_events": 500}, r"^min_events: 500 must be in \[1, 200\]"),
    ],
)
def test_parameters_are_refused_by_name(
    registry: DetectorRegistry,
    model: ModelSop,
    reference: Reference,
    params: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        registry.build(DetectorSpec(type="data_quality", params=params), model, reference)
