"""Non-model rollback targets: configuration documents and dataset versions.

A model rarely fails alone: a threshold, a prompt or a feature-pipeline setting changes
under it, or it is retrained on another dataset. Each such *target* is declared per model in
the SOP file (`targets:`) and versioned here with its lineage: the parent (by default the
version that was active when it was recorded), who recorded it, when and why.

- `config`: a JSON document (thresholds, a prompt, pipeline settings); its identity is the
  SHA-256 of its canonical JSON.
- `dataset`: a URI and the SHA-256 of its content, given by whoever produced it (Ripcord
  never reads the data), plus free metadata.

What is live is the *active* version. Its pointer is the newest row of an append-only
activation history, so the pointer and its history cannot disagree and "what was active
before this change" is a query, not a guess. Activating a version writes, in the caller's
transaction, the history row, an audit row with before and after, and a change event
(`config` or `pipeline`) that the investigation correlates with the incident. Activating the
version that is already active writes nothing: a rollback that runs twice changes nothing.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ripcord.errors import InputError, NotFoundError, Problem
from ripcord.events import ChangeEvent, ChangeKind
from ripcord.registry.local import Health, set_health
from ripcord.store import audit
from ripcord.store.events import event_row, insert_rows
from ripcord.store.tables import ArtifactActivation, ArtifactVersion

_VERSION = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class TargetKind(enum.StrEnum):
    CONFIG = "config"
    DATASET = "dataset"


def digest(document: Mapping[str, Any]) -> str:
    """The identity of a config document: SHA-256 of its canonical JSON."""
    text = json.dumps(audit.plain(document), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _subject(model: str, target: str) -> str:
    return f"target:{model}/{target}"


def _check_content(
    kind: TargetKind, content: Mapping[str, Any] | None, uri: str | None, sha256: str | None
) -> list[Problem]:
    """Which of content / uri / sha256 the kind needs, named by field when missing or stray."""
    if kind is TargetKind.CONFIG:
        problems = (
            [] if content is not None else [Problem("content", None, "a config needs a document")]
        )
        if uri is not None or sha256 is not None:
            problems.append(Problem("uri", uri, "is not used by a config: its document is hashed"))
        return problems
    problems = []
    if content is not None:
        problems.append(
            Problem(
                "content", type(content).__name__, "is not used by a dataset: give uri and sha256"
            )
        )
    if not uri:
        problems.append(Problem("uri", uri, "a dataset needs the URI of its data"))
    if sha256 is None or not _SHA256.match(sha256):
        problems.append(Problem("sha256", sha256, "is not 64 lowercase hex digits"))
    return problems


class ArtifactStore:
    """Config and dataset versions in the database; see the module docstring."""

    def record(
        self,
        session: Session,
        *,
        model: str,
        target: str,
        kind: TargetKind,
        at: datetime,
        actor: str,
        reason: str = "",
        version: str | None = None,
        content: Mapping[str, Any] | None = None,
        uri: str | None = None,
        sha256: str | None = None,
        parent: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> ArtifactVersion:
        """Add a version (not active yet). Without `version`, the next `r<n>`; without
        `parent`, the active version: lineage follows what was live."""
        problems = _check_content(kind, content, uri, sha256)
        if version is not None and not _VERSION.match(version):
            problems.append(Problem("version", version, "must be 1-100 of A-Z a-z 0-9 _ . -"))
        elif version is not None and self.find(session, model, target, version) is not None:
            problems.append(Problem("version", version, f"already exists for {model}/{target}"))
        if parent is not None and self.find(session, model, target, parent) is None:
            problems.append(Problem("parent", parent, f"is not a version of {model}/{target}"))
        if problems:
            raise InputError(f"{model}/{target}", problems)
        active = self.active(session, model, target)
        row = ArtifactVersion(
            model=model,
            target=target,
            kind=kind.value,
            version=version or self._next_version(session, model, target),
            parent=parent if parent is not None else (active.version if active else None),
            content=audit.plain(content) if content is not None else None,
            uri=uri,
            sha256=digest(content) if content is not None else str(sha256),
            meta=audit.plain(meta or {}),
            health=Health.UNKNOWN,
            created_at=at,
            created_by=actor,
            reason=reason,
        )
        session.add(row)
        audit.append(
            session,
            at=at,
            actor=actor,
            action="artifact.record",
            subject=_subject(model, target),
            reason=reason,
            after={
                "version": row.version,
                "kind": row.kind,
                "parent": row.parent,
                "sha256": row.sha256,
            },
        )
        session.flush()
        return row

    def _next_version(self, session: Session, model: str, target: str) -> str:
        query = select(func.count(ArtifactVersion.id)).where(
            ArtifactVersion.model == model, ArtifactVersion.target == target
        )
        n = (session.scalar(query) or 0) + 1
        while self.find(session, model, target, f"r{n}") is not None:
            n += 1
        return f"r{n}"

    def find(
        self, session: Session, model: str, target: str, version: str
    ) -> ArtifactVersion | None:
        query = select(ArtifactVersion).where(
            ArtifactVersion.model == model,
            ArtifactVersion.target == target,
            ArtifactVersion.version == version,
        )
        return session.scalars(query).first()

    def get(self, session: Session, model: str, target: str, version: str) -> ArtifactVersion:
        row = self.find(session, model, target, version)
        if row is None:
            raise NotFoundError("version", f"{model}/{target}@{version}")
        return row

    def versions(self, session: Session, model: str, target: str) -> list[ArtifactVersion]:
        """Every version of the target, newest first."""
        query = select(ArtifactVersion).where(
            ArtifactVersion.model == model, ArtifactVersion.target == target
        )
        return list(session.scalars(query.order_by(ArtifactVersion.id.desc())))

    def history(self, session: Session, model: str, target: str) -> list[ArtifactActivation]:
        """The target's activations, newest first: the first one is the active pointer."""
        query = select(ArtifactActivation).where(
            ArtifactActivation.model == model, ArtifactActivation.target == target
        )
        return list(session.scalars(query.order_by(ArtifactActivation.id.desc())))

    def targets(self, session: Session, model: str) -> list[str]:
        """The model's targets that have an active version, by name."""
        query = select(ArtifactActivation.target).where(ArtifactActivation.model == model)
        return sorted(set(session.scalars(query)))

    def active(self, session: Session, model: str, target: str) -> ArtifactVersion | None:
        query = (
            select(ArtifactActivation.version)
            .where(ArtifactActivation.model == model, ArtifactActivation.target == target)
            .order_by(ArtifactActivation.id.desc())
            .limit(1)
        )
        version = session.scalars(query).first()
        return None if version is None else self.find(session, model, target, version)

    def activate(
        self,
        session: Session,
        *,
        model: str,
        target: str,
        version: str,
        at: datetime,
        actor: str,
        change: ChangeKind,
        reason: str = "",
        incident_id: int | None = None,
    ) -> ArtifactActivation | None:
        """Make `version` the active one (audited, with a change event); None, and nothing
        written, when it already is."""
        row = self.get(session, model, target, version)
        current = self.active(session, model, target)
        if current is not None and current.version == version:
            return None
        previous = current.version if current else None
        activation = ArtifactActivation(
            model=model,
            target=target,
            version=version,
            previous=previous,
            at=at,
            actor=actor,
            reason=reason,
            incident_id=incident_id,
        )
        session.add(activation)
        audit.append(
            session,
            at=at,
            actor=actor,
            action="artifact.activate",
            subject=_subject(model, target),
            reason=reason,
            before={"version": previous, "sha256": current.sha256 if current else None},
            after={"version": version, "sha256": row.sha256, "incident": incident_id},
        )
        event = ChangeEvent(
            model=model,
            timestamp=at,
            change=change,
            version=version,
            actor=actor,
            description=f"{target}: {previous or 'none'} -> {version}"
            + (f"; {reason}" if reason else ""),
        )
        insert_rows(session, [event_row(event)])  # as ingestion stores it
        session.flush()
        return activation

    def mark(
        self,
        session: Session,
        row: ArtifactVersion,
        health: str,
        *,
        at: datetime,
        actor: str,
        reason: str,
    ) -> None:
        """Set a version's health (audited): `good` once verified in service, `bad` once
        implicated in an incident; the rollback's choice reads it."""
        if row.health == health:
            return
        subject = f"{_subject(row.model, row.target)}@{row.version}"
        set_health(session, row, health, action="artifact.health", subject=subject, at=at,
                   actor=actor, reason=reason)  # fmt: skip
