"""The SOP file's schema: what one YAML file says about each model and the response.

Every model and field here is validated by pydantic; `ripcord.sop.load` turns failures into
problems that name the path and value (`models.pricing.slas.p95_latency_ms: -5 is not > 0`).
"""

from __future__ import annotations

import re
import sys
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from ripcord.sop.alertmanager import AlertmanagerSpec
from ripcord.sop.base import Strict
from ripcord.sop.channels import ChannelSpec, EmailAddress, MessageTemplatesSpec
from ripcord.sop.gateway import GatewaySpec
from ripcord.sop.guardrails import GuardrailSpec
from ripcord.sop.schedule import Escalation, Team, TriageSpec
from ripcord.sop.severity import IncidentType, Severity, SeverityRule

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class Slas(Strict):
    """Service levels a version must meet live and on the golden set."""

    min_accuracy: Fraction | None = None
    min_mean_confidence: Fraction | None = None
    p95_latency_ms: PositiveFloat | None = None
    max_error_rate: Fraction | None = None
    #: business rates from feedback (detect/business.py); live only: a golden set has none
    min_click_through: Fraction | None = None
    max_false_positive_rate: Fraction | None = None


class FieldContract(Strict):
    type: Literal["float", "int", "str", "bool", "category"] = "float"
    required: bool = True
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> FieldContract:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        if (self.min is not None or self.max is not None) and self.type not in ("float", "int"):
            raise ValueError(f"min and max need type float or int, not {self.type}")
        if self.allowed is not None and self.type not in ("category", "str"):
            raise ValueError(f"allowed values need type category or str, not {self.type}")
        return self


#: a field's rule with its number bounds as plain values: (name, the rule, a number field?,
#: int only?, min, max); a non-finite value never passes the bounds
FieldCheck = tuple[str, FieldContract, bool, bool, float, float]


class InputContract(Strict):
    fields: dict[Name, FieldContract] = Field(default_factory=dict)
    allow_extra: bool = True

    @cached_property
    def checks(self) -> tuple[FieldCheck, ...]:
        """The rules as the guard reads them on every request, worked out once."""
        big = sys.float_info.max
        return tuple(
            (name, rule, rule.type in ("float", "int"), rule.type == "int",
             -big if rule.min is None else rule.min, big if rule.max is None else rule.max)
            for name, rule in self.fields.items()
        )  # fmt: skip


class Fallback(Strict):
    """What serves while the circuit breaker is open.

    `rule`: a constant answer (a rule-based heuristic); `model`: another registered model's
    deployed version (a smaller, stable one).
    """

    rule: dict[str, Any] | None = None
    model: Name | None = None

    @model_validator(mode="after")
    def _one(self) -> Fallback:
        if (self.rule is None) == (self.model is None):
            raise ValueError("give exactly one of rule or model")
        if self.rule is not None and "prediction" not in self.rule:
            raise ValueError("rule needs a 'prediction' key")
        return self


class Persistence(Strict):
    """A reading counts as breached only when `k` of the last `n` checks breached (default
    1 of 1: at once). `k: 2, n: 3` lets one noisy check pass without a page."""

    k: PositiveInt = 1
    n: PositiveInt = 1

    @model_validator(mode="after")
    def _k_of_n(self) -> Persistence:
        if self.k > self.n:
            raise ValueError(f"k {self.k} is greater than n {self.n}")
        return self


class DetectorSpec(Strict):
    """One detector of a model. Besides its family's `params`, the engine reads:

    - `segment_by`: segment attributes (e.g. [region]) to run the detector per value of, as
      well as on all traffic; at most `max_segments` (default 50) values are watched, the
      first seen, so a high-cardinality attribute cannot exhaust memory;
    - `persistence`: k of n checks must breach before it signals (default 1 of 1);
    - `cooldown_s`: seconds of event time after a signal during which it does not signal
      again, even once re-armed (default 0; triage has its own cooldown on re-paging);
    - `check_every`: events between two readings (default: a tenth of the window, at least
      the engine's cadence of 10; change-point detectors every 10).
    """

    type: Name
    name: Name | None = None
    window: PositiveInt = 200
    threshold: float | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    segment_by: tuple[Name, ...] = ()
    max_segments: PositiveInt = 50
    persistence: Persistence = Persistence()
    cooldown_s: Annotated[float, Field(ge=0.0)] = 0.0
    check_every: PositiveInt | None = None

    @property
    def key(self) -> str:
        return self.name or self.type


class FairnessSpec(Strict):
    """Fairness gaps a candidate must stay within on the golden set (respond/golden.py).

    `attribute` is a golden-set column naming each row's protected group; `favorable` is
    the prediction that benefits the person (e.g. 0 for "will not default"). Groups with
    fewer than `min_group_size` rows are reported but not compared: their rates are noise.
    """

    attribute: Name
    favorable: float | int | str = 1
    max_parity_difference: Fraction | None = 0.1  # largest gap between favorable rates
    min_disparate_impact: Fraction | None = 0.8  # smallest rate over largest (4/5 rule)
    min_group_size: PositiveInt = 30

    @model_validator(mode="after")
    def _a_limit(self) -> FairnessSpec:
        if self.max_parity_difference is None and self.min_disparate_impact is None:
            raise ValueError("give max_parity_difference or min_disparate_impact (or both)")
        return self


class GoldenSet(Strict):
    """A regression suite: a CSV of features plus the label column."""

    path: str
    label: Name = "label"
    fairness: FairnessSpec | None = None


class TargetSpec(Strict):
    """A non-model rollback target of the model (registry/artifacts.py): a `config`
    document (thresholds, a prompt, pipeline settings) or a `dataset` version. `change` is
    the kind of change event its activation records (default: config for a config,
    pipeline for a dataset)."""

    kind: Literal["config", "dataset"]
    change: Literal["config", "pipeline"] | None = None
    description: str = ""

    @property
    def change_kind(self) -> str:
        return self.change or ("config" if self.kind == "config" else "pipeline")


MODEL_PART = "model"  # the model's own part in `rollback.order`


class ModelRollback(Strict):
    """The parts a rollback restores, in order: declared target names and `model` (e.g.
    `[pipeline, model]`: pipeline config first). Without `model` the serving version stays
    and only the targets are restored (a config-only rollback)."""

    order: tuple[Name, ...] = (MODEL_PART,)


class ModelSop(Strict):
    owner: Name
    description: str = ""
    decisions: str = ""  # what the model decides, in business terms ("loan approvals")
    slas: Slas = Slas()
    contract: InputContract = InputContract()
    fallback: Fallback | None = None
    golden_set: GoldenSet | None = None
    reference_size: PositiveInt = 500
    detectors: tuple[DetectorSpec, ...] = ()
    guardrails: tuple[GuardrailSpec, ...] = ()
    targets: dict[Name, TargetSpec] = Field(default_factory=dict)  # non-model rollback targets
    rollback: ModelRollback = ModelRollback()

    @model_validator(mode="after")
    def _unique_detectors(self) -> ModelSop:
        seen: set[str] = set()
        for spec in self.detectors:
            if spec.key in seen:
                raise ValueError(f"detector name {spec.key!r} is used twice; give one a name")
            seen.add(spec.key)
        return self


class RuleSpec(Strict):
    detector: str = Field(min_length=1)
    severity: str
    type: IncidentType
    above: float | None = None
    below: float | None = None
    name: str = ""

    def to_rule(self) -> SeverityRule:
        return SeverityRule(
            self.detector,
            Severity.parse(self.severity),
            self.type,
            self.above,
            self.below,
            self.name,
        )

    @model_validator(mode="after")
    def _severity(self) -> RuleSpec:
        Severity.parse(self.severity)
        return self


class ResponseSpec(Strict):
    """What happens on its own at a severity: contain at once, and how rollback goes."""

    contain: bool = False
    rollback: Literal["auto", "approval", "none"] = "none"


def _default_response() -> dict[str, ResponseSpec]:
    return {
        "SEV-1": ResponseSpec(contain=True, rollback="auto"),
        "SEV-2": ResponseSpec(contain=True, rollback="approval"),
        "SEV-3": ResponseSpec(),
        "SEV-4": ResponseSpec(),
    }


class CanaryPolicy(Strict):
    """How canaries and shadows are judged (respond/canary.py, respond/analysis.py)."""

    min_events: PositiveInt = 300
    alpha: Annotated[float, Field(gt=0.0, lt=0.05)] = 0.01
    #: worse at p < alpha_marginal (but not < alpha): "marginal", a person should look
    alpha_marginal: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.05
    on_pass: Literal["promote", "hold"] = "hold"

    @model_validator(mode="after")
    def _marginal_is_looser(self) -> CanaryPolicy:
        if self.alpha_marginal < self.alpha:
            raise ValueError(
                f"alpha_marginal: {self.alpha_marginal!r} must be >= alpha ({self.alpha!r})"
            )
        return self


class RollbackPolicy(Strict):
    approvers: tuple[Name, ...] = ()
    #: distinct approvers (never the proposer) a rollback needs, per SEV; 1 when left out
    approvals_required: dict[str, PositiveInt] = Field(default_factory=dict)
    verification_events: PositiveInt = 300
    max_candidates: PositiveInt = 3
    #: the share of traffic the restored version gets at each verification step
    traffic_steps: tuple[Annotated[float, Field(gt=0.0, le=1.0)], ...] = (0.1, 0.5, 1.0)

    @model_validator(mode="after")
    def _steps(self) -> RollbackPolicy:
        steps = self.traffic_steps
        if not steps or steps[-1] != 1.0 or list(steps) != sorted(set(steps)):
            raise ValueError(f"traffic_steps: {list(steps)} must rise strictly and end at 1.0")
        for label, count in self.approvals_required.items():
            if self.approvers and count > len(self.approvers):
                raise ValueError(
                    f"approvals_required.{label}: {count} is more than the "
                    f"{len(self.approvers)} approver(s) listed under approvers"
                )
        return self

    @field_validator("approvals_required")
    @classmethod
    def _severities(cls, counts: dict[str, int]) -> dict[str, int]:
        labels = {}
        for key, count in counts.items():
            try:
                labels[Severity.parse(key).label] = count
            except ValueError:
                raise ValueError(f"{key!r} is not one of SEV-1, SEV-2, SEV-3, SEV-4") from None
        return labels

    def approvals(self, severity: Severity) -> int:
        """How many distinct approvers a rollback at `severity` needs."""
        return self.approvals_required.get(severity.label, 1)


_TRACKING_SCHEMES = ("http://", "https://", "sqlite:///", "file:", "postgresql", "mysql")


class RegistrySpec(Strict):
    """Where model versions live. `local` (the default): Ripcord's own store. `mlflow`: an
    MLflow Model Registry at `tracking_uri`, whose serving `alias` the rollback moves.

    `timeout_s` and `retries` bound every call to MLflow, so an unreachable registry fails
    a step in seconds instead of MLflow's default minutes of back-off.
    """

    type: Literal["local", "mlflow"] = "local"
    tracking_uri: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    alias: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")] = (
        "champion"
    )
    timeout_s: Annotated[int, Field(ge=1, le=600)] = 10
    retries: Annotated[int, Field(ge=0, le=10)] = 2

    @model_validator(mode="after")
    def _fits_type(self) -> RegistrySpec:
        uri = self.tracking_uri
        if self.type == "local" and uri is not None:
            raise ValueError(f"tracking_uri {uri!r} is not used by the local registry")
        if self.type == "mlflow" and uri is None:
            raise ValueError("an mlflow registry needs tracking_uri")
        if uri is not None and not uri.startswith(_TRACKING_SCHEMES):
            raise ValueError(
                f"tracking_uri {uri!r} does not start with {' or '.join(_TRACKING_SCHEMES)}"
            )
        if self.alias == "latest" or re.fullmatch(r"v\d+", self.alias):
            raise ValueError(f"alias {self.alias!r} is reserved by MLflow")
        return self


class SeveritySpec(Strict):
    rules: tuple[RuleSpec, ...] | None = None


class Sop(Strict):
    version: Literal[1] = 1
    models: dict[Name, ModelSop] = Field(min_length=1)
    severity: SeveritySpec = SeveritySpec()
    response: dict[str, ResponseSpec] = Field(default_factory=_default_response)
    teams: dict[Name, Team] = Field(default_factory=dict)
    escalation: Escalation = Escalation()
    triage: TriageSpec = TriageSpec()
    channels: dict[Name, ChannelSpec] = Field(
        default_factory=lambda: {"console": ChannelSpec(type="console")}
    )
    rollback: RollbackPolicy = RollbackPolicy()
    canary: CanaryPolicy = CanaryPolicy()
    people: dict[Name, EmailAddress] = Field(default_factory=dict)  # person → email address
    templates: MessageTemplatesSpec = MessageTemplatesSpec()
    registry: RegistrySpec = RegistrySpec()
    gateway: GatewaySpec | None = None  # `ripcord gateway`: upstreams per version
    alertmanager: AlertmanagerSpec = AlertmanagerSpec()  # POST /v1/alertmanager: labels → SEV
