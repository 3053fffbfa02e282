from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ripcord.sop.severity import DEFAULT_RULES, IncidentType, Severity, SeverityPolicy

policy = SeverityPolicy()


def test_the_spec_default_table() -> None:
    assert policy.classify("error_rate", 0.6).severity is Severity.SEV1
    assert policy.classify("error_rate", 0.1).severity is Severity.SEV2
    assert policy.classify("accuracy", 0.5).severity is Severity.SEV2
    assert policy.classify("contract", 0.5).incident_type is IncidentType.DATA
    assert policy.classify("contract", 0.5).severity is Severity.SEV2
    assert policy.classify("contract", 0.1).severity is Severity.SEV3
    assert policy.classify("latency", 900).incident_type is IncidentType.INFRASTRUCTURE
    assert policy.classify("feature_drift", 0.3).severity is Severity.SEV3
    assert policy.classify("something_new", 1.0).severity is Severity.SEV4
    for family in ("cusum", "page_hinkley"):
        assert policy.classify(family, 30.0).severity is Severity.SEV3
        assert policy.classify(family, 30.0).incident_type is IncidentType.MODEL_QUALITY


@pytest.mark.parametrize(
    ("text", "sev"), [("SEV-1", Severity.SEV1), ("sev2", Severity.SEV2), ("4", Severity.SEV4)]
)
def test_parse(text: str, sev: Severity) -> None:
    assert Severity.parse(text) is sev
    assert Severity.parse(sev.label) is sev


def test_parse_refuses_unknown() -> None:
    with pytest.raises(ValueError, match="severity: 'SEV-5'"):
        Severity.parse("SEV-5")


FAMILIES = sorted({r.detector for r in DEFAULT_RULES if r.detector != "*"})
# The families whose value gets worse as it grows; the others get worse as it shrinks.
RISING = {"error_rate", "contract", "prediction_drift", "feature_drift", "latency"}
RISING |= {"cusum", "page_hinkley"}  # their value is a statistic that grows with the shift
RISING |= {"external_alert"}  # its value is the urgency its labels map to (4 = SEV-1)
RISING |= {"data_quality", "regression_error"}  # a share of broken values; an error


@given(st.sampled_from(FAMILIES), st.floats(0, 1e4), st.floats(0, 1e4))
def test_severity_never_decreases_when_a_signal_worsens(family: str, a: float, b: float) -> None:
    better, worse = (min(a, b), max(a, b)) if family in RISING else (max(a, b), min(a, b))
    assert policy.classify(family, worse).severity >= policy.classify(family, better).severity


def test_feedback_families() -> None:
    """A thumbs-down spike is a mild quality signal; poisoning is a feedback-loop (data)
    problem, named as not a model failure; a business rate past its SLA is worth a rollback."""
    spike = policy.classify("feedback_spike", 0.6)
    assert (spike.severity, spike.incident_type) == (Severity.SEV3, IncidentType.MODEL_QUALITY)
    poisoning = policy.classify("feedback_poisoning", 0.9)
    assert (poisoning.severity, poisoning.incident_type) == (Severity.SEV3, IncidentType.DATA)
    assert poisoning.rule.endswith("not a model failure")
    business = policy.classify("business_rate", 0.01)
    assert (business.severity, business.incident_type) == (
        Severity.SEV2,
        IncidentType.MODEL_QUALITY,
    )
    assert DEFAULT_RULES[-1].detector == "*"  # the catch-all stays last
