"""Load an SOP file and check it whole: schema first, then the cross-references.

Every problem is reported with its dotted path and value, not just the first one.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ripcord.detect.base import DetectorRegistry, Reference
from ripcord.errors import Problem, SopError, problems_from
from ripcord.notify.build import sop_problems as notify_problems
from ripcord.sop.alertmanager import alertmanager_problems
from ripcord.sop.gateway import gateway_problems
from ripcord.sop.schema import MODEL_PART, ModelSop, Sop
from ripcord.sop.severity import (
    DEFAULT_RULES,
    EXTERNAL_ALERT,
    Severity,
    SeverityPolicy,
    external_rules,
)

SEVERITIES = [s.label for s in sorted(Severity, reverse=True)]


def read(path: Path) -> Any:
    if not path.is_file():
        raise SopError(str(path), [Problem("", str(path), f"SOP file {path} does not exist")])
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SopError(str(path), [Problem("", str(path), f"is not valid YAML: {exc}")]) from None


def parse(data: Any, *, where: str = "SOP") -> Sop:
    if not isinstance(data, dict):
        raise SopError(where, [Problem("", type(data).__name__, "the SOP file must be a mapping")])
    try:
        return Sop.model_validate(data)
    except ValidationError as exc:
        raise SopError(where, problems_from(exc.errors())) from None


def load(path: Path, detectors: DetectorRegistry) -> Sop:
    """Read, validate and cross-check an SOP file; raise SopError listing every problem."""
    sop = parse(read(path), where=str(path))
    problems = cross_check(sop, detectors, base=path.parent)
    if problems:
        raise SopError(str(path), problems)
    return sop


def policy(sop: Sop) -> SeverityPolicy:
    """The SOP's rules (or the default table). External alerts get the rules for the type
    the `alertmanager:` section names, unless the SOP's own rules cover them."""
    if sop.severity.rules is None:
        rules = [r for r in DEFAULT_RULES if r.detector != EXTERNAL_ALERT]
    else:
        rules = [r.to_rule() for r in sop.severity.rules]
    if all(r.detector != EXTERNAL_ALERT for r in rules):
        rules += external_rules(sop.alertmanager.incident_type)
    return SeverityPolicy(rules)


def cross_check(sop: Sop, detectors: DetectorRegistry, *, base: Path) -> list[Problem]:
    problems: list[Problem] = []
    for key in (*sop.response, *sop.escalation.ack_minutes):
        if key not in SEVERITIES:
            problems.append(
                Problem(
                    f"response/ack_minutes.{key}", key, f"is not one of {', '.join(SEVERITIES)}"
                )
            )
    for name, team in sop.teams.items():
        for i, channel in enumerate(team.channels):
            if channel not in sop.channels:
                problems.append(
                    Problem(f"teams.{name}.channels[{i}]", channel, "is not a defined channel")
                )
    for kind, team_name in sop.escalation.teams.items():
        if team_name not in sop.teams:
            problems.append(
                Problem(f"escalation.teams.{kind.value}", team_name, "is not a defined team")
            )
    for i, rule in enumerate(sop.severity.rules or ()):
        if rule.detector not in ("*", EXTERNAL_ALERT) and rule.detector not in detectors:
            problems.append(
                Problem(f"severity.rules[{i}].detector", rule.detector, "is not a detector type")
            )
    for name, model in sop.models.items():
        problems += _check_model(f"models.{name}", model, sop, detectors, base)
    problems += notify_problems(sop, base)
    problems += gateway_problems(sop)
    problems += alertmanager_problems(sop)
    return problems


def _check_model(
    path: str, model: ModelSop, sop: Sop, detectors: DetectorRegistry, base: Path
) -> list[Problem]:
    problems = []
    if model.owner not in sop.teams:
        problems.append(Problem(f"{path}.owner", model.owner, "is not a defined team"))
    if model.golden_set is not None and not (base / model.golden_set.path).is_file():
        problems.append(
            Problem(
                f"{path}.golden_set.path",
                model.golden_set.path,
                f"is not a file (relative to {base})",
            )
        )
    if (
        model.fallback is not None
        and model.fallback.model is not None
        and model.fallback.model not in sop.models
    ):
        problems.append(
            Problem(f"{path}.fallback.model", model.fallback.model, "is not a defined model")
        )
    problems += _check_rollback_parts(path, model)
    problems += _check_fairness(path, model, base)
    reference = Reference(model.reference_size)
    for i, spec in enumerate(model.detectors):
        where = f"{path}.detectors[{i}]"
        if spec.type not in detectors:
            problems.append(
                Problem(f"{where}.type", spec.type, f"is not one of {', '.join(detectors)}")
            )
            continue
        try:
            detectors.build(spec, model, reference)
        except ValueError as exc:
            field, _, message = str(exc).partition(": ")
            value = _param_value(spec, field)
            message = message.removeprefix(f"{value!r} ").removeprefix(f"{value} ")
            problems.append(Problem(f"{where}.{field}", value, message or str(exc)))
    return problems


def _check_rollback_parts(path: str, model: ModelSop) -> list[Problem]:
    """`rollback.order` names each part once: `model` or a declared target."""
    problems = []
    if MODEL_PART in model.targets:
        problems.append(
            Problem(f"{path}.targets.{MODEL_PART}", MODEL_PART, "is reserved for the model itself")
        )
    if not model.rollback.order:
        problems.append(Problem(f"{path}.rollback.order", [], "must name at least one part"))
    declared = ", ".join(model.targets) or "none"
    seen: set[str] = set()
    for i, name in enumerate(model.rollback.order):
        where = f"{path}.rollback.order[{i}]"
        if name in seen:
            problems.append(Problem(where, name, "is listed twice"))
        elif name != MODEL_PART and name not in model.targets:
            problems.append(
                Problem(where, name, f"is not 'model' or a declared target (targets: {declared})")
            )
        seen.add(name)
    return problems


def _check_fairness(path: str, model: ModelSop, base: Path) -> list[Problem]:
    """The protected attribute is a column of the golden set, and not its label."""
    golden = model.golden_set
    if golden is None or golden.fairness is None or not (base / golden.path).is_file():
        return []
    where, attribute = f"{path}.golden_set.fairness.attribute", golden.fairness.attribute
    if attribute == golden.label:
        return [Problem(where, attribute, "is the label column; name the protected attribute")]
    with (base / golden.path).open(newline="") as handle:
        header = next(csv.reader(handle), [])
    if attribute not in header:
        return [Problem(where, attribute, f"is not a column of {golden.path}")]
    return []


def _param_value(spec: Any, field: str) -> Any:
    if field in ("window", "threshold"):
        return getattr(spec, field)
    return spec.params.get(field.removeprefix("params."))
