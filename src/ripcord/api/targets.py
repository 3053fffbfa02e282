"""Config and dataset rollback targets over HTTP: list a target's versions, record one,
activate one. The same operations as `rc.targets` and `ripcord config`, with the token's
name as the actor in the audit log; a target the SOP file does not declare is a 422 naming
it, an unknown version a 404.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field, model_validator

from ripcord.api.deps import Responder, State, Viewer
from ripcord.api.errors import CONFLICT, NOT_FOUND, RESPONSES
from ripcord.api.models import Name, Text, _In
from ripcord.store.tables import ArtifactVersion

router = APIRouter(tags=["targets"])
Segment = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]
WRITE = {**RESPONSES, **NOT_FOUND, **CONFLICT}
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class TargetVersionOut(BaseModel):
    version: str
    active: bool
    kind: str = Field(description="config or dataset")
    parent: str | None
    health: str
    sha256: str
    uri: str | None = Field(description="a dataset's location")
    document: dict[str, Any] | None = Field(description="a config's document")
    created_at: datetime
    created_by: str
    reason: str

    @classmethod
    def of(cls, row: ArtifactVersion, active: str | None) -> TargetVersionOut:
        return cls(
            version=row.version, active=row.version == active, kind=row.kind,
            parent=row.parent, health=row.health, sha256=row.sha256, uri=row.uri,
            document=row.content, created_at=row.created_at, created_by=row.created_by,
            reason=row.reason,
        )  # fmt: skip


class TargetVersionIn(_In):
    """A config `document`, or a dataset's `uri` with its `sha256`; activated at once
    unless `activate` is false."""

    document: dict[str, Any] | None = None
    uri: Text | None = None
    sha256: str | None = Field(default=None, description="64 lowercase hex digits")
    version: Name | None = None
    parent: Name | None = None
    reason: Text
    activate: bool = True

    @model_validator(mode="after")
    def _one_kind(self) -> TargetVersionIn:
        if (self.document is None) == (self.uri is None):
            raise ValueError("give exactly one of document (a config) or uri (a dataset)")
        if self.uri is not None and (self.sha256 is None or not SHA256.match(self.sha256)):
            raise ValueError(f"sha256: {self.sha256!r} must be 64 lowercase hex digits")
        return self


class ActivateIn(_In):
    version: Name
    reason: Text


@router.get("/v1/models/{model}/targets/{target}/versions", responses={**RESPONSES, **NOT_FOUND})
def list_versions(
    model: Segment, target: Segment, state: State, who: Viewer
) -> list[TargetVersionOut]:
    """Every version of a target with its lineage and health, newest first."""
    with state.runtime() as rc:
        rows = rc.targets.versions(model, target)
        current = rc.targets.active(model, target)
    active = current.version if current else None
    return [TargetVersionOut.of(r, active) for r in rows]


@router.post("/v1/models/{model}/targets/{target}/versions", responses=WRITE)
def record_version(
    model: Segment, target: Segment, body: TargetVersionIn, state: State, who: Responder
) -> TargetVersionOut:
    """Record a version (audited, with its parent); activating it writes a change event
    and has the serving version verified with it."""
    with state.runtime() as rc:
        if body.document is not None:
            version = rc.targets.record_config(
                model, target, body.document, actor=who.name, reason=body.reason,
                version=body.version, parent=body.parent, activate=body.activate,
            )  # fmt: skip
        else:
            assert body.uri is not None and body.sha256 is not None  # checked by the model
            version = rc.targets.record_dataset(
                model, target, uri=body.uri, sha256=body.sha256, actor=who.name,
                reason=body.reason, version=body.version, parent=body.parent,
                activate=body.activate,
            )  # fmt: skip
        rows, current = rc.targets.versions(model, target), rc.targets.active(model, target)
        return _version(rows, current, version)


@router.post("/v1/models/{model}/targets/{target}/activate", responses=WRITE)
def activate(
    model: Segment, target: Segment, body: ActivateIn, state: State, who: Responder
) -> TargetVersionOut:
    """Make a recorded version active (a no-op if it already is); 404 for an unknown one."""
    with state.runtime() as rc:
        rc.targets.activate(model, target, body.version, actor=who.name, reason=body.reason)
        rows, current = rc.targets.versions(model, target), rc.targets.active(model, target)
        return _version(rows, current, body.version)


def _version(
    rows: list[ArtifactVersion], current: ArtifactVersion | None, version: str
) -> TargetVersionOut:
    row = next(r for r in rows if r.version == version)
    return TargetVersionOut.of(row, current.version if current else None)
