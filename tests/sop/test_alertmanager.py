"""The SOP's `alertmanager:` section: label mapping, validation, and the severity policy it
gives external alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ripcord.detect import default_registry
from ripcord.errors import SopError
from ripcord.sop import load
from ripcord.sop.alertmanager import AlertmanagerSpec
from ripcord.sop.severity import EXTERNAL_ALERT, IncidentType, Severity
from tests.conftest import sop_data

spec = AlertmanagerSpec()


@pytest.mark.parametrize(
    ("labels", "severity", "how"),
    [
        ({"severity": "critical"}, Severity.SEV1, "severity=critical"),
        ({"severity": "Error"}, Severity.SEV2, "severity=Error"),
        ({"severity": "WARNING"}, Severity.SEV3, "severity=WARNING"),
        ({"severity": "info"}, Severity.SEV4, "severity=info"),
        ({"severity": "SEV-2"}, Severity.SEV2, "severity=SEV-2"),
        ({"severity": "sev1"}, Severity.SEV1, "severity=sev1"),
        ({"severity": "page"}, Severity.SEV3, "unmapped severity=page"),
        ({}, Severity.SEV3, "no severity label"),
    ],
)
def test_default_severity_mapping(labels: dict[str, str], severity: Severity, how: str) -> None:
    assert spec.severity(labels) == (severity, how)


def test_a_custom_mapping() -> None:
    custom = AlertmanagerSpec(
        severity_label="priority",
        severities={"P1": "1", "p2": "SEV-2"},
        default_severity="sev4",
        model_label="service",
        default_model="pricing",
    )
    assert custom.severities == {"p1": "SEV-1", "p2": "SEV-2"}
    assert custom.severity({"priority": "p1"})[0] is Severity.SEV1
    assert custom.severity({"priority": "P2"})[0] is Severity.SEV2
    assert custom.severity({"severity": "critical"})[0] is Severity.SEV4  # not its label
    assert custom.model({"service": "credit-risk"}) == "credit-risk"
    assert custom.model({"model": "credit-risk"}) == "pricing"
    assert spec.model({}) is None


def parsed(section: dict[str, Any]) -> Any:
    return load.parse({**sop_data(), "alertmanager": section})


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"severities": {"critical": "SEV-0"}}, "alertmanager.severities.critical"),
        ({"severities": {"Page": "SEV-1", "page": "SEV-2"}}, "alertmanager.severities"),
        ({"default_severity": "urgent"}, "alertmanager.default_severity"),
        ({"model_label": "1model"}, "alertmanager.model_label"),
        ({"incident_type": "network"}, "alertmanager.incident_type"),
        ({"resolved": True}, "alertmanager.resolved"),
    ],
)
def test_a_bad_section_names_the_field(section: dict[str, Any], path: str) -> None:
    with pytest.raises(SopError) as info:
        parsed(section)
    assert [p.path for p in info.value.problems] == [path]


def test_the_default_model_must_be_a_model(tmp_path: Path) -> None:
    sop = parsed({"default_model": "nope"})
    problems = load.cross_check(sop, default_registry(), base=tmp_path)
    assert [(p.path, p.value) for p in problems if p.path.startswith("alertmanager")] == [
        ("alertmanager.default_model", "nope")
    ]


def test_external_alerts_take_the_sections_incident_type() -> None:
    policy = load.policy(parsed({"incident_type": "model_quality"}))
    cls = policy.classify(EXTERNAL_ALERT, float(Severity.SEV2))
    assert (cls.severity, cls.incident_type) == (Severity.SEV2, IncidentType.MODEL_QUALITY)
    default = load.policy(parsed({})).classify(EXTERNAL_ALERT, float(Severity.SEV1))
    assert (default.severity, default.incident_type) == (Severity.SEV1, IncidentType.INFRASTRUCTURE)


def test_custom_rules_get_the_external_rules_unless_they_have_their_own(tmp_path: Path) -> None:
    rules = [{"detector": "latency", "severity": "SEV-2", "type": "infrastructure"}]
    sop = load.parse({**sop_data(), "severity": {"rules": rules}})
    assert load.policy(sop).classify(EXTERNAL_ALERT, 4.0).severity is Severity.SEV1
    own = [*rules, {"detector": EXTERNAL_ALERT, "severity": "SEV-4", "type": "data"}]
    sop = load.parse({**sop_data(), "severity": {"rules": own}})
    cls = load.policy(sop).classify(EXTERNAL_ALERT, 4.0)
    assert (cls.severity, cls.incident_type) == (Severity.SEV4, IncidentType.DATA)
    problems = load.cross_check(sop, default_registry(), base=tmp_path)
    assert not [p for p in problems if p.path.startswith("severity")]
