"""What flows into Ripcord: inference, label, feedback and change events."""

from __future__ import annotations

import enum
import itertools
import secrets
from collections.abc import Container, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from ripcord.errors import EventError, Problem, problems_from

FeatureValue = float | int | str | bool | None
Name = Annotated[str, Field(min_length=1, max_length=200)]
UNKNOWN_MODEL = "is not a model in the SOP file"


def _utc_representable(value: datetime) -> datetime:
    # Stored in UTC: 0001-01-01T00:00+01:00 is valid ISO 8601 but has no UTC equivalent.
    # Offsets are under a day, so only the first and the last year can fall outside.
    if 1 < value.year < 9999:
        return value
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None
    return value


Timestamp = Annotated[AwareDatetime, AfterValidator(_utc_representable)]


class Route(enum.StrEnum):
    """Where the guard sent a request."""

    CHAMPION = "champion"  # the version currently deployed
    FALLBACK = "fallback"  # the circuit breaker is open
    KILLED = "killed"  # the kill switch is engaged: no prediction served
    BLOCKED = "blocked"  # the input broke the contract
    GUARDED = "guarded"  # a guardrail blocked or replaced the input or the output
    SHADOW = "shadow"  # a copy to the shadow version: compared, never served


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Name
    timestamp: Timestamp


class InferenceEvent(_Event):
    kind: Literal["inference"] = "inference"
    version: Name
    request_id: Name
    features: dict[str, FeatureValue] = Field(default_factory=dict)
    prediction: FeatureValue = None
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    latency_ms: float = Field(ge=0.0)
    error: str | None = None
    segment: dict[str, str] = Field(default_factory=dict)
    route: Route = Route.CHAMPION
    violations: tuple[str, ...] = ()


class LabelEvent(_Event):
    kind: Literal["label"] = "label"
    request_id: Name
    label: FeatureValue


class FeedbackEvent(_Event):
    kind: Literal["feedback"] = "feedback"
    request_id: Name | None = None
    score: float = Field(ge=-1.0, le=1.0, description="-1 thumbs-down … +1 thumbs-up")
    source: Name = "unknown"


class ChangeKind(enum.StrEnum):
    DEPLOY = "deploy"
    CONFIG = "config"
    PIPELINE = "pipeline"
    ROLLBACK = "rollback"


class ChangeEvent(_Event):
    kind: Literal["change"] = "change"
    change: ChangeKind
    version: Name | None = None
    description: str = ""
    actor: Name = "unknown"


class RequestIds:
    """Ids for requests that come without one: a random prefix per process and a counter,
    32 hex digits like a UUID's, unique without a system call per request."""

    def __init__(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.counter = itertools.count()

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


Event = InferenceEvent | LabelEvent | FeedbackEvent | ChangeEvent
EVENT_KINDS: dict[str, type[_Event]] = {
    "inference": InferenceEvent,
    "label": LabelEvent,
    "feedback": FeedbackEvent,
    "change": ChangeEvent,
}


def parse_event(data: Mapping[str, Any], where: str = "event") -> Event:
    """Validate one event; raises EventError naming every bad field and its value."""
    kind = data.get("kind") if isinstance(data, Mapping) else None
    cls = EVENT_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        expected = ", ".join(EVENT_KINDS)
        raise EventError(where, [Problem(f"{where}.kind", kind, f"is not one of {expected}")])
    try:
        return cls.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        raise EventError(where, problems_from(exc.errors(), prefix=where)) from None


def parse_events(
    items: Sequence[Mapping[str, Any]], models: Container[str] | None = None
) -> list[Event]:
    """Validate a batch whole: every bad item is reported (and, with `models`, every model
    not among them), none is returned half-checked."""
    events: list[Event] = []
    problems = []
    for i, item in enumerate(items):
        try:
            events.append(parse_event(item, where=f"events[{i}]"))
        except EventError as exc:
            problems.extend(exc.problems)
        model = item.get("model") if isinstance(item, Mapping) else None
        if models is not None and isinstance(model, str) and model and model not in models:
            problems.append(Problem(f"events[{i}].model", model, UNKNOWN_MODEL))
    if problems:
        raise EventError("event batch", problems)
    return events


def event_time(event: Event) -> datetime:
    return event.timestamp
