"""The runtime's API for non-model rollback targets: `rc.targets`.

Config documents (thresholds, prompts, pipeline settings) and dataset versions are recorded
and activated here, each in its own transaction, for a target the SOP file declares under
the model's `targets:`. Activating a change is what a deploy is for a model: it is audited
with before and after, leaves a change event the investigation correlates with incidents,
and has the serving version verified with it over a window of live events; passing that
window is what marks the version good, the mark a rollback's last-known-good choice trusts
(respond/parts.py).

    rc.targets.record_config("fraud", "threshold", {"block_above": 0.92}, actor="alice")
    rc.targets.config("fraud", "threshold")   # {"block_above": 0.92}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ripcord.errors import InputError, Problem
from ripcord.events import ChangeKind
from ripcord.registry.artifacts import TargetKind
from ripcord.store.tables import ArtifactActivation, ArtifactVersion

if TYPE_CHECKING:
    from ripcord.app import Ripcord


class TargetVersions:
    def __init__(self, app: Ripcord) -> None:
        self.app = app

    def record_config(
        self,
        model: str,
        target: str,
        document: Mapping[str, Any],
        *,
        actor: str,
        reason: str = "",
        version: str | None = None,
        parent: str | None = None,
        activate: bool = True,
    ) -> str:
        """Record a config document as a new version (activated unless told not to);
        returns its id (`r<n>` unless given)."""
        if not isinstance(document, Mapping):
            raise InputError(
                "config", [Problem("document", type(document).__name__, "is not a mapping")]
            )
        return self._record(
            model, target, TargetKind.CONFIG, actor=actor, reason=reason, version=version,
            parent=parent, activate=activate, content=document,
        )  # fmt: skip

    def record_dataset(
        self,
        model: str,
        target: str,
        *,
        uri: str,
        sha256: str,
        actor: str,
        reason: str = "",
        meta: Mapping[str, Any] | None = None,
        version: str | None = None,
        parent: str | None = None,
        activate: bool = True,
    ) -> str:
        """Record a dataset version by its URI and content hash (activated unless told not
        to); returns its id."""
        return self._record(
            model, target, TargetKind.DATASET, actor=actor, reason=reason, version=version,
            parent=parent, activate=activate, uri=uri, sha256=sha256, meta=meta,
        )  # fmt: skip

    def _record(
        self,
        model: str,
        target: str,
        kind: TargetKind,
        *,
        actor: str,
        reason: str,
        version: str | None,
        parent: str | None,
        activate: bool,
        **what: Any,
    ) -> str:
        """Store a version of either kind (`what`: its content, or its uri and hash), then
        activate it unless told not to."""
        self._check(model, target, kind)
        with self.app.db.session() as session:
            row = self.app.artifacts.record(
                session, model=model, target=target, kind=kind, at=self.app.clock.now(),
                actor=actor, reason=reason, version=version, parent=parent, **what,
            )  # fmt: skip
        if activate:
            self.activate(model, target, row.version, actor=actor, reason=reason)
        return row.version

    def activate(self, model: str, target: str, version: str, *, actor: str, reason: str) -> bool:
        """Make `version` active; False when it already was (nothing written). The serving
        version is then verified with it, unless a verification is under way."""
        spec = self._check(model, target, None)
        app = self.app
        with app.db.session() as session:
            done = app.artifacts.activate(
                session,
                model=model,
                target=target,
                version=version,
                at=app.clock.now(),
                actor=actor,
                change=ChangeKind(spec),
                reason=reason,
            )
        serving = app.routes.state(model).serving
        if done is not None and serving is not None and model not in app.verifier.active:
            app.verifier.start_deploy(model, serving)
        return done is not None

    def active(self, model: str, target: str) -> ArtifactVersion | None:
        self._check(model, target, None)
        with self.app.db.session() as session:
            return self.app.artifacts.active(session, model, target)

    def config(self, model: str, target: str) -> dict[str, Any] | None:
        """The active document of a config target (what serving code reads), or None."""
        row = self.active(model, target)
        return None if row is None else row.content

    def versions(self, model: str, target: str) -> list[ArtifactVersion]:
        self._check(model, target, None)
        with self.app.db.session() as session:
            return self.app.artifacts.versions(session, model, target)

    def history(self, model: str, target: str) -> list[ArtifactActivation]:
        self._check(model, target, None)
        with self.app.db.session() as session:
            return self.app.artifacts.history(session, model, target)

    def _check(self, model: str, target: str, kind: TargetKind | None) -> str:
        """The target's change kind; refuses a target the SOP does not declare, or of
        another kind than `kind`."""
        self.app.model(model)
        targets = self.app.sop.models[model].targets
        spec = targets.get(target)
        where = f"models.{model}.targets"
        if spec is None:
            declared = ", ".join(targets) or "none"
            message = f"is not declared in the SOP file (declared: {declared})"
            raise InputError("target", [Problem(where, target, message)])
        if kind is not None and spec.kind != kind.value:
            message = f"is a {spec.kind} target, not a {kind.value}"
            raise InputError("target", [Problem(f"{where}.{target}.kind", target, message)])
        return spec.change_kind
