"""Canary and shadow analysis: is the new version worse than the serving one?

Pure: no database, no web. Continuous metrics (confidence, latency) are compared with a
one-sided Mann-Whitney U test, rates (errors) with a one-sided two-proportion z-test — each
toward "worse", since a better canary is no reason to stop it. A metric fails when it is
worse with p < `alpha` AND by more than its practical margin (a million events make any
difference significant; only a difference that matters should stop a release). The verdict:

- fail: some metric failed;
- marginal: too few events on either side, or a metric worse with p < `alpha` within its
  margin, or worse with p < `alpha_marginal` only — a human should look;
- pass: nothing of the above.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

Verdict = Literal["pass", "marginal", "fail"]

#: practical margins: how much worse a metric must be before it fails a release
MARGINS = {"confidence": 0.02, "latency_ms": 0.10, "error_rate": 0.01}


@dataclass(frozen=True)
class Observed:
    """What one version answered: per-request confidence, latency and error flag."""

    confidence: Sequence[float]
    latency_ms: Sequence[float]
    errors: Sequence[bool]


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    test: str
    baseline: float
    candidate: float
    p_value: float
    worse_by: float  # in the metric's units (latency: as a share of the baseline median)
    margin: float
    verdict: Verdict


@dataclass(frozen=True)
class Analysis:
    verdict: Verdict
    reason: str
    comparisons: tuple[MetricComparison, ...]
    baseline_n: int
    candidate_n: int


def _mann_whitney(
    metric: str,
    base: np.ndarray,
    cand: np.ndarray,
    lower_is_worse: bool,
    alpha: float,
    alpha_marginal: float,
) -> MetricComparison:
    alternative = "less" if lower_is_worse else "greater"
    p = float(stats.mannwhitneyu(cand, base, alternative=alternative).pvalue)
    b, c = float(np.median(base)), float(np.median(cand))
    if metric == "latency_ms":
        worse_by = (c - b) / b if b > 0 else 0.0
    else:
        worse_by = (b - c) if lower_is_worse else (c - b)
    return _judge(
        MetricComparison(metric, "mann-whitney-u", b, c, p, worse_by, MARGINS[metric], "pass"),
        alpha,
        alpha_marginal,
    )


def _two_proportions(
    base: Sequence[bool], cand: Sequence[bool], alpha: float, alpha_marginal: float
) -> MetricComparison:
    nb, nc, xb, xc = len(base), len(cand), sum(base), sum(cand)
    pb, pc = xb / nb, xc / nc
    pooled = (xb + xc) / (nb + nc)
    se = math.sqrt(pooled * (1 - pooled) * (1 / nb + 1 / nc))
    p = 0.5 if se == 0 else float(stats.norm.sf((pc - pb) / se))
    return _judge(
        MetricComparison(
            "error_rate", "two-proportion-z", pb, pc, p, pc - pb, MARGINS["error_rate"], "pass"
        ),
        alpha,
        alpha_marginal,
    )


def _judge(m: MetricComparison, alpha: float, alpha_marginal: float) -> MetricComparison:
    if m.p_value < alpha and m.worse_by > m.margin:
        verdict: Verdict = "fail"
    elif m.p_value < alpha_marginal and m.worse_by > 0:
        verdict = "marginal"
    else:
        verdict = "pass"
    return MetricComparison(
        m.metric, m.test, m.baseline, m.candidate, m.p_value, m.worse_by, m.margin, verdict
    )


def analyze(
    baseline: Observed,
    candidate: Observed,
    *,
    min_events: int = 200,
    alpha: float = 0.01,
    alpha_marginal: float = 0.05,
) -> Analysis:
    """Compare a candidate (canary or shadow) with the serving version."""
    if min_events <= 0:
        raise ValueError(f"min_events: {min_events!r} must be > 0")
    if not 0.0 < alpha <= alpha_marginal < 1.0:
        raise ValueError(f"alpha: {alpha!r} must be in (0, alpha_marginal={alpha_marginal!r}]")
    nb, nc = len(baseline.errors), len(candidate.errors)
    if min(nb, nc) < min_events:
        return Analysis(
            "marginal",
            f"too few events to judge ({nc} candidate, {nb} serving; {min_events} each needed)",
            (),
            nb,
            nc,
        )
    comparisons = [_two_proportions(baseline.errors, candidate.errors, alpha, alpha_marginal)]
    for metric, lower_is_worse in (("confidence", True), ("latency_ms", False)):
        base = np.asarray(getattr(baseline, metric), dtype=float)
        cand = np.asarray(getattr(candidate, metric), dtype=float)
        if len(base) >= min_events and len(cand) >= min_events:
            comparisons.append(
                _mann_whitney(metric, base, cand, lower_is_worse, alpha, alpha_marginal)
            )
    order: dict[Verdict, int] = {"pass": 0, "marginal": 1, "fail": 2}
    worst = max(comparisons, key=lambda m: order[m.verdict])
    reason = (
        "no metric worse"
        if worst.verdict == "pass"
        else f"{worst.metric} {worst.candidate:.4g} vs {worst.baseline:.4g} (p={worst.p_value:.2g})"
    )
    return Analysis(worst.verdict, reason, tuple(comparisons), nb, nc)
