"""The SOP file's `alertmanager:` section: how Alertmanager's labels become a model and a SEV.

`POST /v1/alertmanager` takes Alertmanager's webhook notifications. Each alert names its
model and its severity in labels; this section says which labels, and how severity values
map onto SEV-1..SEV-4. Every field has a default, so the section can be left out.

    alertmanager:
      model_label: model              # the label naming the model (a model of this file)
      severity_label: severity        # the label naming the severity
      version_label: version          # optional label naming the version at fault
      severities:                     # label value (any case) → SEV; SEV-n values map as is
        critical: SEV-1
        error: SEV-2
        warning: SEV-3
        info: SEV-4
      default_severity: SEV-3         # for a missing or unmapped severity value
      default_model: null             # for alerts without the model label (else 422)
      incident_type: infrastructure   # the type external alerts' incidents get
      resolve: true                   # resolve the incident when all its alerts resolved
      auth:                           # optional: a webhook credential instead of an API token
        bearer_token_env: AM_TOKEN    # Authorization: Bearer <$AM_TOKEN> (Alertmanager http_config)
        hmac_secret_env: AM_SECRET    # X-Ripcord-Signature: sha256=HMAC($AM_SECRET, "<ts>.<body>")
        replay_window_s: 300          # X-Ripcord-Timestamp within this many seconds of now

Secrets are never written in the file (it is checked into git): `*_env` fields name the
environment variable holding each one.

Pure: pydantic only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from ripcord.errors import Problem
from ripcord.sop.base import EnvName, Strict
from ripcord.sop.severity import IncidentType, Severity

if TYPE_CHECKING:
    from ripcord.sop.schema import Sop

#: Prometheus's label-name syntax
LabelName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
ModelName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]


def _default_severities() -> dict[str, str]:
    # Prometheus's conventional `severity` values; "critical" pages as the SPEC's SEV-1.
    return {"critical": "SEV-1", "error": "SEV-2", "warning": "SEV-3", "info": "SEV-4"}


def _sev(text: str) -> str:
    """Validate a SEV and keep its canonical label."""
    try:
        return Severity.parse(text).label
    except ValueError:
        raise ValueError("is not one of SEV-1, SEV-2, SEV-3, SEV-4") from None


#: 'SEV-1', 'sev1' or '1', kept as 'SEV-1'
SevText = Annotated[str, Field(min_length=1, max_length=20), AfterValidator(_sev)]


class WebhookAuthSpec(Strict):
    """The receiver's own credential: a shared bearer token, an HMAC-SHA256 signature of
    the body with a timestamp against replay, or both (then both are required)."""

    bearer_token_env: EnvName | None = None
    hmac_secret_env: EnvName | None = None
    replay_window_s: int = Field(300, gt=0, le=86_400)

    @model_validator(mode="after")
    def _some_credential(self) -> WebhookAuthSpec:
        if self.bearer_token_env is None and self.hmac_secret_env is None:
            raise ValueError("names neither bearer_token_env nor hmac_secret_env")
        return self


class AlertmanagerSpec(Strict):
    model_label: LabelName = "model"
    severity_label: LabelName = "severity"
    version_label: LabelName = "version"
    severities: dict[Annotated[str, Field(min_length=1, max_length=200)], SevText] = Field(
        default_factory=_default_severities
    )
    default_severity: SevText = "SEV-3"
    default_model: ModelName | None = None
    incident_type: IncidentType = IncidentType.INFRASTRUCTURE
    resolve: bool = True
    auth: WebhookAuthSpec | None = None

    @field_validator("severities")
    @classmethod
    def _mapped(cls, severities: dict[str, str]) -> dict[str, str]:
        lowered = {key.lower() for key in severities}
        if len(lowered) != len(severities):
            raise ValueError("two keys differ only in case; values are matched in any case")
        return {key.lower(): value for key, value in severities.items()}

    def severity(self, labels: Mapping[str, str]) -> tuple[Severity, str]:
        """The SEV an alert's labels map to, and how it was found (for the timeline)."""
        value = labels.get(self.severity_label)
        if value is None:
            return Severity.parse(self.default_severity), f"no {self.severity_label} label"
        mapped = self.severities.get(value.lower())
        if mapped is not None:
            return Severity.parse(mapped), f"{self.severity_label}={value}"
        try:
            return Severity.parse(value), f"{self.severity_label}={value}"
        except ValueError:
            return Severity.parse(self.default_severity), f"unmapped {self.severity_label}={value}"

    def model(self, labels: Mapping[str, str]) -> str | None:
        """The model an alert names, or the default model; None when neither is there."""
        return labels.get(self.model_label) or self.default_model


def alertmanager_problems(sop: Sop) -> list[Problem]:
    """Cross-references: the default model is a model of the SOP file."""
    name = sop.alertmanager.default_model
    if name is None or name in sop.models:
        return []
    return [Problem("alertmanager.default_model", name, "is not a defined model")]
