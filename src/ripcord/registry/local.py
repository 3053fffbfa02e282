"""The built-in registry: versions in the database, artifacts in a folder.

Artifacts are joblib files; their SHA-256 is recorded at registration and checked at load,
so a swapped or corrupted file is refused rather than served.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import joblib
from sqlalchemy import select
from sqlalchemy.orm import Session

from ripcord.errors import InputError, NotFoundError, Problem
from ripcord.store import audit
from ripcord.store.tables import Deployment, ModelVersion


class _HasHealth(Protocol):
    health: str


def set_health(
    session: Session,
    row: _HasHealth,
    health: str,
    *,
    action: str,
    subject: str,
    at: datetime,
    actor: str,
    reason: str,
) -> None:
    """Set a registered version's health with its audit row (before and after): model
    versions and config or dataset versions alike, since the rollback's choice reads it."""
    before = {"health": row.health}
    row.health = health
    audit.append(
        session,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        reason=reason,
        before=before,
        after={"health": health},
    )


class Health:
    UNKNOWN = "unknown"
    GOOD = "good"  # validated and verified in service
    BAD = "bad"  # implicated in an incident


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class LocalRegistry:
    def __init__(self, artifacts: Path) -> None:
        self.artifacts = artifacts

    def register(
        self,
        session: Session,
        *,
        model: str,
        version: str,
        predictor: Any,
        at: datetime,
        actor: str,
        parent: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        if self.find(session, model, version) is not None:
            raise InputError(
                "version", [Problem("version", version, f"already exists for {model}")]
            )
        folder = self.artifacts / model / version
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "model.joblib"
        joblib.dump(predictor, path)
        row = ModelVersion(
            model=model,
            version=version,
            parent=parent,
            artifact=str(path),
            sha256=_sha256(path),
            created_at=at,
            health=Health.UNKNOWN,
            meta=audit.plain(meta or {}),
        )
        session.add(row)
        audit.append(
            session,
            at=at,
            actor=actor,
            action="version.register",
            subject=f"model:{model}",
            after={"version": version, "parent": parent, "sha256": row.sha256},
        )
        return row

    def find(self, session: Session, model: str, version: str) -> ModelVersion | None:
        query = select(ModelVersion).where(
            ModelVersion.model == model, ModelVersion.version == version
        )
        return session.scalars(query).first()

    def get(self, session: Session, model: str, version: str) -> ModelVersion:
        row = self.find(session, model, version)
        if row is None:
            raise NotFoundError("version", f"{model}@{version}")
        return row

    def load(self, row: ModelVersion) -> Any:
        path = Path(row.artifact)
        if not path.is_file():
            raise NotFoundError("artifact", str(path))
        if _sha256(path) != row.sha256:
            raise InputError(
                "artifact", [Problem("sha256", str(path), "does not match the registered hash")]
            )
        return joblib.load(path)

    def versions(self, session: Session, model: str) -> list[ModelVersion]:
        query = (
            select(ModelVersion).where(ModelVersion.model == model).order_by(ModelVersion.id.desc())
        )
        return list(session.scalars(query))

    def record_deployment(
        self,
        session: Session,
        *,
        model: str,
        version: str,
        at: datetime,
        actor: str,
        kind: str = "deploy",
        reason: str = "",
    ) -> Deployment:
        """Deployment history; the routing table moves the traffic (respond/routing.py)."""
        self.get(session, model, version)
        row = Deployment(model=model, version=version, at=at, actor=actor, kind=kind, reason=reason)
        session.add(row)
        return row

    def deployments(self, session: Session, model: str) -> list[Deployment]:
        query = select(Deployment).where(Deployment.model == model).order_by(Deployment.id)
        return list(session.scalars(query))

    def deployed_at(self, session: Session, model: str, version: str) -> datetime | None:
        """When `version` was last deployed (or rolled back to): where a fault it brought
        began, for the incident's start and the report's timeline."""
        query = (
            select(Deployment.at)
            .where(Deployment.model == model, Deployment.version == version)
            .order_by(Deployment.id.desc())
            .limit(1)
        )
        return session.scalars(query).first()

    def mark(
        self,
        session: Session,
        row: ModelVersion,
        health: str,
        *,
        at: datetime,
        actor: str,
        reason: str,
    ) -> None:
        subject = f"model:{row.model}@{row.version}"
        set_health(session, row, health, action="version.health", subject=subject, at=at,
                   actor=actor, reason=reason)  # fmt: skip

    def sync(self, session: Session, model: str) -> list[ModelVersion]:
        """Mirror versions from an outside registry; the built-in store is its own source."""
        return []

    def reconcile(self, session: Session, *, model: str, serving: str, at: datetime) -> bool:
        """Make what the registry says serves agree with the routing table (the truth),
        e.g. after a step that moved an outside pointer failed later and was rolled back.
        True when something had to change; the built-in store has no pointer of its own."""
        return False

    def record_validation(
        self, session: Session, row: ModelVersion, result: Mapping[str, Any]
    ) -> None:
        """A golden-set result for `row`; kept on the row itself (`row.validation`), so
        there is nothing more to write here. An outside registry also records it there."""
