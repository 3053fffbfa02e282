"""Canary and shadow analysis: the statistics, then the review acting on live traffic."""

from __future__ import annotations

import numpy as np
import pytest

from ripcord.app import Ripcord
from ripcord.drills.demo import MODEL
from ripcord.respond import canary, controls
from ripcord.respond.analysis import MARGINS, Observed, analyze
from tests.respond.conftest import V1, V2, Drive

rng = np.random.default_rng(5)


def sample(n: int, confidence: float = 0.85, latency: float = 5.0, errors: float = 0.0) -> Observed:
    return Observed(
        confidence=list(np.clip(rng.normal(confidence, 0.08, n), 0, 1)),
        latency_ms=list(rng.gamma(4.0, latency / 4.0, n)),
        errors=list(rng.random(n) < errors),
    )


def test_the_same_version_passes() -> None:
    result = analyze(sample(2000), sample(2000))
    assert result.verdict == "pass" and result.reason == "no metric worse"
    assert {c.metric for c in result.comparisons} == {"confidence", "latency_ms", "error_rate"}


@pytest.mark.parametrize(
    ("candidate", "metric"),
    [
        ({"confidence": 0.78}, "confidence"),
        ({"latency": 7.0}, "latency_ms"),
        ({"errors": 0.05}, "error_rate"),
    ],
)
def test_a_worse_candidate_fails_on_that_metric(candidate: dict[str, float], metric: str) -> None:
    result = analyze(sample(2000), sample(2000, **candidate))
    assert result.verdict == "fail" and result.reason.startswith(metric)
    assert next(c for c in result.comparisons if c.metric == metric).p_value < 0.01


def test_a_worse_but_negligible_difference_is_not_a_failure() -> None:
    result = analyze(sample(200_000), sample(200_000, confidence=0.845))
    confidence = next(c for c in result.comparisons if c.metric == "confidence")
    assert confidence.p_value < 0.01 and confidence.worse_by < confidence.margin
    assert result.verdict == "marginal"


def test_a_better_candidate_passes_and_few_events_are_marginal() -> None:
    assert analyze(sample(2000), sample(2000, confidence=0.95)).verdict == "pass"
    few = analyze(sample(2000), sample(50))
    assert few.verdict == "marginal" and "too few events" in few.reason
    with pytest.raises(ValueError, match="min_events: 0"):
        analyze(sample(10), sample(10), min_events=0)


def test_a_bad_shadow_is_stopped_and_marked(rc: Ripcord, drive: Drive) -> None:
    controls.shadow(rc, MODEL, "v2", actor="alice", reason="compare the retrain")
    drive.serve(700)
    state = rc.routes.state(MODEL)
    assert state.shadow is None and state.serving == "v1"
    with rc.db.session() as session:
        assert rc.registry.get(session, MODEL, "v2").health == "bad"


def test_a_good_canary_is_promoted_when_the_policy_says_so(
    rc: Ripcord, drive: Drive, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both sides run the same model, so only wall-clock latency could differ, and on a busy
    # test machine it does; latency judging is covered by the statistics tests above.
    monkeypatch.setitem(MARGINS, "latency_ms", 100.0)
    rc.sop = rc.sop.model_copy(
        update={"canary": rc.sop.canary.model_copy(update={"on_pass": "promote"})}
    )
    rc.register(MODEL, "v1-retrain", V1, actor="ci", parent="v1")
    controls.canary(rc, MODEL, {"v1-retrain": 0.5}, actor="alice", reason="try the retrain")
    drive.serve(1500, until=lambda: rc.routes.state(MODEL).serving == "v1-retrain")
    state = rc.routes.state(MODEL)
    assert (state.serving, state.canary) == ("v1-retrain", {})
    assert [v for _, v, r in canary.review_all(rc)] == []  # nothing left to review


def test_v2_as_a_direct_review(rc: Ripcord, drive: Drive) -> None:
    rc.register(MODEL, "v2b", V2, actor="ci")
    assert canary.review(rc, MODEL, "v2b").verdict == "marginal"  # no answers yet


def test_the_marginal_level_comes_from_the_sop_and_must_be_the_looser_one() -> None:
    from pydantic import ValidationError

    from ripcord.sop.schema import CanaryPolicy

    assert CanaryPolicy(alpha=0.01, alpha_marginal=0.2).alpha_marginal == 0.2
    with pytest.raises(ValidationError, match="alpha_marginal: 0.005 must be >= alpha"):
        CanaryPolicy(alpha=0.01, alpha_marginal=0.005)
