"""Tables. Every timestamp is stored as UTC and comes back timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware datetimes out, whatever the backend keeps (SQLite drops
    the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp: {value!r} must be timezone-aware")
        return value if value.tzinfo is UTC else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class ModelVersion(Base):
    """A registered version with its lineage, artifact and health record."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[str] = mapped_column(String(100))
    parent: Mapped[str | None] = mapped_column(String(100))
    artifact: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    health: Mapped[str] = mapped_column(String(20), default="unknown")
    validation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Deployment(Base):
    """Deployment history: which version served from when, and who moved it."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # deploy | rollback
    reason: Mapped[str] = mapped_column(Text, default="")


class Routing(Base):
    """Where a model's traffic goes now. One row per model; `revision` counts changes."""

    __tablename__ = "routing"

    model: Mapped[str] = mapped_column(String(100), primary_key=True)
    serving: Mapped[str | None] = mapped_column(String(100))
    breaker: Mapped[str] = mapped_column(String(20), default="closed")
    killed: Mapped[bool] = mapped_column(default=False)
    paused: Mapped[str | None] = mapped_column(Text)  # the message a paused endpoint answers
    canary: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # version -> share of traffic
    shadow: Mapped[str | None] = mapped_column(String(100))  # gets a copy, never served
    disabled_features: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # name -> stand-in
    share: Mapped[float | None]  # half-open: the serving version's stepped trial share
    revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_model_at", "model", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(100))
    version: Mapped[str | None] = mapped_column(String(100))
    request_id: Mapped[str | None] = mapped_column(String(200), index=True)
    route: Mapped[str | None] = mapped_column(String(20))
    at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(100), index=True)
    incident_type: Mapped[str] = mapped_column(String(30))
    segment: Mapped[str] = mapped_column(String(200), default="")  # "" = all traffic
    severity: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), index=True)
    title: Mapped[str] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(String(100))
    owner: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[datetime]  # when the fault began (e.g. the deploy it follows)
    detected_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    contained_at: Mapped[datetime | None]
    recovering_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    reviewed_at: Mapped[datetime | None]
    ack_by: Mapped[datetime | None]  # when the next escalation is due (None: no more)
    #: escalation pages decided (0: only the first page, to the on-call primary; repeats of
    #: the last level count too) and how many of them were handed to the channels: a page
    #: decided but not sent (a crash in between) is sent on restart, never twice
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    escalation_paged: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class TimelineEntry(Base):
    __tablename__ = "timeline"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SignalRow(Base):
    __tablename__ = "signals"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    model: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(100))
    detector: Mapped[str] = mapped_column(String(100))
    family: Mapped[str] = mapped_column(String(50))
    metric: Mapped[str] = mapped_column(String(100))
    value: Mapped[float]
    threshold: Mapped[float]
    direction: Mapped[str] = mapped_column(String(10))
    window: Mapped[int]
    severity: Mapped[int]
    at: Mapped[datetime]
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Action(Base):
    """A response action (containment, rollback) with its persisted state."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(30))
    proposed_by: Mapped[str] = mapped_column(String(100))
    approved_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Delivery(Base):
    """What each notification channel did with each message."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    channel: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    ok: Mapped[bool]
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


class AuditRow(Base):
    """Append-only, hash-chained: each row's hash covers its content and the previous hash."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class DeadLetter(Base):
    """A notification that failed after its last retry, kept to be listed and replayed."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    channel: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # Notification.to_json()
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int]
    created_at: Mapped[datetime]
    replayed_at: Mapped[datetime | None]


class ApiToken(Base):
    """An API token: only its SHA-256 is stored; `role` is viewer, responder, approver or
    admin."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class AlertGroup(Base):
    """An Alertmanager group (its `groupKey`) and the one incident it maps to. The key is
    kept whole and found by its SHA-256, so a long key needs no long index."""

    __tablename__ = "alert_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    group_key: Mapped[str] = mapped_column(Text)
    receiver: Mapped[str] = mapped_column(Text, default="")
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ExternalAlert(Base):
    """One alert of a group, by its fingerprint: what de-duplicates Alertmanager's repeats."""

    __tablename__ = "external_alerts"
    __table_args__ = (UniqueConstraint("group_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("alert_groups.id"))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)  # the alertname label
    status: Mapped[str] = mapped_column(String(20))  # firing | resolved
    severity: Mapped[int]
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class ArtifactVersion(Base):
    """A version of a non-model rollback target (registry/artifacts.py): a config document
    (thresholds, a prompt, pipeline settings) or a dataset (a URI and its content hash),
    with its lineage (parent, who, when, why) and health record."""

    __tablename__ = "artifact_versions"
    __table_args__ = (UniqueConstraint("model", "target", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # config | dataset
    version: Mapped[str] = mapped_column(String(100))
    parent: Mapped[str | None] = mapped_column(String(100))
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # a config's document
    uri: Mapped[str | None] = mapped_column(Text)  # a dataset's location
    sha256: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    health: Mapped[str] = mapped_column(String(20), default="unknown")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")


class ArtifactActivation(Base):
    """Append-only history of a target's active pointer: the newest row per (model, target)
    is the active version, so the pointer and its history cannot disagree."""

    __tablename__ = "artifact_activations"
    __table_args__ = (Index("ix_artifact_activations_model_target", "model", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(100))
    previous: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
