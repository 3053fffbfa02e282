"""Alertmanager's webhook payload, version 4 (what its `webhook_config` receiver POSTs).

    {"version": "4", "groupKey": "{}:{alertname=\\"HighLatency\\"}", "truncatedAlerts": 0,
     "status": "firing", "receiver": "ripcord", "groupLabels": {...}, "commonLabels": {...},
     "commonAnnotations": {...}, "externalURL": "http://alertmanager:9093",
     "alerts": [{"status": "firing", "labels": {...}, "annotations": {...},
                 "startsAt": "2026-01-01T00:00:00.123456789Z",
                 "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "...",
                 "fingerprint": "1a30ba71cca2921f"}]}

Fields Alertmanager may add later (and other senders of this format, such as Grafana, add
now) are ignored; a different `version` is refused. Timestamps keep microseconds
(Alertmanager sends nanoseconds) and are turned to UTC. Strings may not hold NUL, which
PostgreSQL cannot store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

NO_NUL = r"^[^\x00]*$"
MAX_ALERTS = 10_000

Status = Literal["firing", "resolved"]
LabelName = Annotated[str, Field(min_length=1, max_length=1_000, pattern=NO_NUL)]
Value = Annotated[str, Field(max_length=10_000, pattern=NO_NUL)]
Labels = Annotated[dict[LabelName, Value], Field(max_length=1_000)]


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        raise ValueError("is out of range once converted to UTC") from None


Time = Annotated[AwareDatetime, AfterValidator(_utc)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AlertmanagerAlert(_Wire):
    # Field names as on the wire (camelCase), so a 422 names the field as it was sent.
    status: Status
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    startsAt: Time
    endsAt: Time = Field(
        description="0001-01-01T00:00:00Z while firing without an end; else when it ended"
    )
    generatorURL: Value = ""
    fingerprint: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]

    @property
    def name(self) -> str:
        return self.labels.get("alertname") or "alert"


class AlertmanagerNotification(_Wire):
    """One group's state, as Alertmanager sends it."""

    version: Literal["4"]
    groupKey: Annotated[str, Field(min_length=1, max_length=10_000, pattern=NO_NUL)]
    truncatedAlerts: Annotated[int, Field(ge=0, le=2**62)] = 0
    status: Status
    receiver: Value = ""
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Labels = Field(default_factory=dict)
    externalURL: Value = ""
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=MAX_ALERTS)
