"""What the HTTP API takes and returns (pydantic), kept apart from the stored tables."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, WithJsonSchema

from ripcord.access import Role
from ripcord.detect.base import Signal
from ripcord.events import Event
from ripcord.sop.severity import Severity
from ripcord.store.tables import Action, ApiToken, Incident, TimelineEntry

MAX_BATCH = 10_000
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL; refuse it at the door
REF = "#/components/schemas/{model}"

Text = Annotated[str, Field(min_length=1, max_length=10_000, pattern=r"^[^\x00]*\S[^\x00]*$")]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00\s][^\x00]*$")]
SeverityLabel = Literal["SEV-1", "SEV-2", "SEV-3", "SEV-4"]

# A good batch is parsed in one pass (`ParsedBatch`); a bad one by `Ripcord.parse_batch`, so
# a 422 names `events[2].latency_ms` exactly as the SDK and CLI do (see `ingest`). The schema
# below documents the four event kinds.
_EVENTS: TypeAdapter[Event] = TypeAdapter(Annotated[Event, Field(discriminator="kind")])
_EVENT_SCHEMA = _EVENTS.json_schema(ref_template=REF)
EventItem = Annotated[
    dict[str, Any], WithJsonSchema({k: v for k, v in _EVENT_SCHEMA.items() if k != "$defs"})
]


def event_schemas() -> dict[str, Any]:
    """The event models' schemas, for the OpenAPI document's `components`."""
    defs: dict[str, Any] = _EVENT_SCHEMA.get("$defs", {})
    return defs


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventBatch(_In):
    events: list[EventItem] = Field(min_length=1, max_length=MAX_BATCH)


class ParsedBatch(_In):
    """The same envelope with the events themselves: one pass of pydantic-core over the
    request's bytes (parse and validate), the fast path for a good batch."""

    events: list[Annotated[Event, Field(discriminator="kind")]] = Field(
        min_length=1, max_length=MAX_BATCH
    )


def batch_schema() -> dict[str, Any]:
    """EventBatch's schema for the OpenAPI document (the route reads its body itself)."""
    item = {k: v for k, v in _EVENT_SCHEMA.items() if k != "$defs"}
    events = {"type": "array", "items": item, "minItems": 1, "maxItems": MAX_BATCH}
    return {
        "title": "EventBatch",
        "type": "object",
        "properties": {"events": {**events, "title": "Events"}},
        "required": ["events"],
        "additionalProperties": False,
    }


class ProblemOut(BaseModel):
    path: str = Field(description="where the problem is, e.g. events[2].latency_ms")
    value: Any = Field(description="what was there (null when missing)")
    message: str


class ErrorBody(BaseModel):
    error: str = Field(description="invalid_input, not_found, conflict, unauthorized, ...")
    message: str
    problems: list[ProblemOut] = Field(default_factory=list)


class SignalOut(BaseModel):
    model: str
    version: str
    detector: str
    family: str
    metric: str
    value: float
    threshold: float
    at: datetime

    @classmethod
    def of(cls, s: Signal) -> SignalOut:
        r = s.reading
        return cls(
            model=s.model,
            version=s.version,
            detector=s.detector,
            family=s.family,
            metric=r.metric,
            value=r.value,
            threshold=r.threshold,
            at=s.at,
        )


class IngestResult(BaseModel):
    accepted: int
    by_kind: dict[str, int]
    signals: list[SignalOut]


class IncidentOut(BaseModel):
    id: int
    model: str
    version: str | None
    severity: SeverityLabel
    type: str
    segment: str | None = Field(description="the affected segment; null for all traffic")
    status: str
    title: str
    owner: str | None
    started_at: datetime
    detected_at: datetime
    acknowledged_at: datetime | None
    contained_at: datetime | None
    recovering_at: datetime | None
    resolved_at: datetime | None
    reviewed_at: datetime | None
    ack_by: datetime | None

    @classmethod
    def of(cls, i: Incident) -> IncidentOut:
        return cls(**incident_fields(i))


def incident_fields(i: Incident) -> dict[str, Any]:
    names = set(IncidentOut.model_fields) - {"severity", "type", "segment"}
    return {
        **{n: getattr(i, n) for n in names},
        "severity": Severity(i.severity).label,
        "type": i.incident_type,
        "segment": i.segment or None,
    }


class TimelineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    kind: str
    actor: str
    message: str
    data: dict[str, Any]

    @classmethod
    def of(cls, e: TimelineEntry) -> TimelineOut:
        return cls.model_validate(e)


class ActionOut(BaseModel):
    id: int
    incident_id: int
    kind: str
    status: str
    proposed_by: str
    approved_by: str | None = Field(description="the approval that let the rollback go on")
    approvals: list[str] = Field(
        description="every approver so far, in order (the SOP can ask for two at SEV-1)"
    )
    created_at: datetime
    updated_at: datetime
    target: str | None = Field(description="the version a rollback restores, once chosen")
    from_version: str | None
    data: dict[str, Any]

    @classmethod
    def of(cls, a: Action) -> ActionOut:
        return cls(
            id=a.id,
            incident_id=a.incident_id,
            kind=a.kind,
            status=a.status,
            proposed_by=a.proposed_by,
            approved_by=a.approved_by,
            approvals=list(a.data.get("approvals", [])),
            created_at=a.created_at,
            updated_at=a.updated_at,
            target=a.data.get("target"),
            from_version=a.data.get("from"),
            data=a.data,
        )


class IncidentDetail(IncidentOut):
    timeline: list[TimelineOut]
    actions: list[ActionOut]


class AssignIn(_In):
    owner: Name = Field(description="a team named in the SOP file, or a person")


class CommentIn(_In):
    message: Text


class SeverityIn(_In):
    severity: SeverityLabel
    reason: str = Field(
        "", max_length=10_000, pattern=NO_NUL, description="required to lower the severity"
    )


class ReasonIn(_In):
    reason: Text


class TokenIn(_In):
    name: str = Field(min_length=1, max_length=100, description="the actor the audit log names")
    role: Role


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, t: ApiToken) -> TokenOut:
        return cls.model_validate(t)


class NewToken(TokenOut):
    token: str = Field(description="shown once; only its SHA-256 is stored")
