"""Severity levels, incident types and the policy that maps signals onto them.

The default table is the SPEC's; an SOP file can replace the rules. A signal matches every
rule whose detector and condition fit, and takes the most severe of them: so a signal that
worsens can only gain matching rules, and its severity never goes down.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Direction = Literal["above", "below"]


class Severity(enum.IntEnum):
    """SEV-1 is the worst; comparisons follow urgency (SEV1 > SEV4)."""

    SEV4 = 1
    SEV3 = 2
    SEV2 = 3
    SEV1 = 4

    @property
    def label(self) -> str:
        return f"SEV-{5 - self.value}"

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Accept 'SEV-1', 'sev1', '1'."""
        digits = text.upper().replace("SEV", "").replace("-", "").strip()
        if digits not in {"1", "2", "3", "4"}:
            raise ValueError(f"severity: {text!r} is not one of SEV-1, SEV-2, SEV-3, SEV-4")
        return cls(5 - int(digits))


class IncidentType(enum.StrEnum):
    INFRASTRUCTURE = "infrastructure"
    MODEL_QUALITY = "model_quality"
    DATA = "data"
    SAFETY = "safety"


@dataclass(frozen=True)
class SeverityRule:
    """Match a detector family (or '*'), optionally only past a value, and assign SEV + type."""

    detector: str
    severity: Severity
    incident_type: IncidentType
    above: float | None = None
    below: float | None = None
    name: str = ""

    def matches(self, family: str, value: float) -> bool:
        if self.detector not in ("*", family):
            return False
        if self.above is not None and not value > self.above:
            return False
        return not (self.below is not None and not value < self.below)


def _rule(
    detector: str, sev: Severity, kind: IncidentType, name: str, **cond: float
) -> SeverityRule:
    return SeverityRule(detector, sev, kind, name=name, **cond)


#: the family of signals built from alerts that come from outside (Alertmanager)
EXTERNAL_ALERT = "external_alert"


def external_rules(kind: IncidentType) -> tuple[SeverityRule, ...]:
    """Rules for external alerts. Their reading's value is the urgency the alert's labels
    were mapped to through the SOP's `alertmanager:` section (Severity's value: 1 is SEV-4,
    4 is SEV-1), so each SEV has its rule; `kind` is the type that section names."""
    return tuple(
        _rule(EXTERNAL_ALERT, sev, kind, f"external alert at {sev.label}", above=sev - 0.5)
        for sev in Severity
    )


#: the rule name a poisoning signal's incident carries: what it is, and what it is not
POISONING = "feedback loop: negative feedback concentrated in few sources — not a model failure"

S, T = Severity, IncidentType
DEFAULT_RULES: tuple[SeverityRule, ...] = (
    _rule("error_rate", S.SEV1, T.INFRASTRUCTURE, "model down: error rate over 50 %", above=0.5),
    _rule("error_rate", S.SEV2, T.INFRASTRUCTURE, "error rate over SLA"),
    _rule("accuracy", S.SEV2, T.MODEL_QUALITY, "accuracy under SLA"),
    _rule("confidence", S.SEV2, T.MODEL_QUALITY, "mean confidence under SLA"),
    _rule("contract", S.SEV2, T.DATA, "contract breaks on many requests", above=0.2),
    _rule("contract", S.SEV3, T.DATA, "contract breaks"),
    _rule("prediction_drift", S.SEV3, T.MODEL_QUALITY, "prediction drift past threshold"),
    _rule("feature_drift", S.SEV3, T.DATA, "feature drift past threshold"),
    _rule("latency", S.SEV3, T.INFRASTRUCTURE, "p95 latency over target"),
    _rule("cusum", S.SEV3, T.MODEL_QUALITY, "sustained mean shift (CUSUM)"),
    _rule("page_hinkley", S.SEV3, T.MODEL_QUALITY, "sustained mean shift (Page-Hinkley)"),
    _rule("business_rate", S.SEV2, T.MODEL_QUALITY, "business rate from feedback past SLA"),
    _rule("feedback_spike", S.SEV3, T.MODEL_QUALITY, "thumbs-down rate spike"),
    _rule("feedback_poisoning", S.SEV3, T.DATA, POISONING),
    _rule("classification_quality", S.SEV2, T.MODEL_QUALITY, "classifier quality under target"),
    _rule("regression_error", S.SEV2, T.MODEL_QUALITY, "regression error over target"),
    _rule("data_quality", S.SEV2, T.DATA, "corrupted features on many requests", above=0.2),
    _rule("data_quality", S.SEV3, T.DATA, "data-quality breaks (nulls, types, range, categories)"),
    _rule("throughput", S.SEV2, T.INFRASTRUCTURE, "throughput collapse"),
    _rule("fairness", S.SEV1, T.SAFETY, "protected-group gap beyond limit"),
    _rule("pii", S.SEV1, T.SAFETY, "PII in LLM output"),
    _rule("policy_phrases", S.SEV2, T.SAFETY, "LLM output breaks a policy (e.g. promises)"),
    _rule("groundedness", S.SEV2, T.MODEL_QUALITY, "hallucination: replies not grounded"),
    _rule("refusal_rate", S.SEV3, T.MODEL_QUALITY, "LLM refusal rate up"),
    _rule("output_length", S.SEV3, T.MODEL_QUALITY, "LLM reply length anomaly"),
    _rule("shadow_disagreement", S.SEV3, T.MODEL_QUALITY, "shadow disagrees with serving"),
    *external_rules(T.INFRASTRUCTURE),
    _rule("*", S.SEV4, T.MODEL_QUALITY, "any other signal"),
)


@dataclass(frozen=True)
class Classification:
    severity: Severity
    incident_type: IncidentType
    rule: str


class SeverityPolicy:
    """Maps (detector family, value) to the most severe matching rule."""

    def __init__(self, rules: Sequence[SeverityRule] = DEFAULT_RULES) -> None:
        if not rules:
            raise ValueError("rules: [] must hold at least one rule")
        self.rules = tuple(rules)

    def classify(self, family: str, value: float) -> Classification:
        matched = [r for r in self.rules if r.matches(family, value)]
        if not matched:
            return Classification(Severity.SEV4, IncidentType.MODEL_QUALITY, "no rule matched")
        worst = max(matched, key=lambda r: r.severity)
        return Classification(worst.severity, worst.incident_type, worst.name or worst.detector)
