"""An MLflow Model Registry behind Ripcord's registry interface.

Versions live in MLflow. `sync` mirrors each one into `model_versions`: the artifact is the
`models:/<name>/<version>` URI and the content identity is a SHA-256 of the version's run
id and source, so a version number that MLflow later hands to other content is refused at
load, as a local artifact whose hash changed is.

What serves is an MLflow alias (`champion` unless the SOP says otherwise). A deploy or a
rollback moves it, and Ripcord keeps the history of the moves in its own `deployments`
table, because MLflow keeps none; the audit row names the alias's previous target.

Health marks and golden-set results are also written as version tags (`ripcord.health`,
`ripcord.validation.*`), for people who look at MLflow. Ripcord's database stays the truth
for them: a tag write that fails during an outage is logged, not raised (a verification that
ends inside a live request must not fail it), and the next `sync` writes what MLflow lacks.

Every other MLflow failure comes out as `RegistryError`, so the rollback records it and
escalates rather than crashing. MLflow's client backs off for minutes before giving up by
default; its retry and timeout settings are read from the process environment only, so they
are set there from the SOP unless the environment already sets them. Telemetry is switched
off the same way before MLflow is first imported: Ripcord calls nothing outside.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session

from ripcord.errors import InputError, NotFoundError, Problem, RegistryError
from ripcord.registry.local import Health, LocalRegistry
from ripcord.registry.pyfunc import MlflowPredictor, open_pyfunc
from ripcord.store import audit
from ripcord.store.tables import Deployment, ModelVersion

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion as MlflowVersion

log = logging.getLogger(__name__)
T = TypeVar("T")

TAG_HEALTH = "ripcord.health"
TAG_PARENT = "ripcord.parent"  # lineage, when whoever registered the version set it
TAG_VALIDATION = "ripcord.validation."
_HEALTHS = (Health.UNKNOWN, Health.GOOD, Health.BAD)


def _now() -> datetime:
    return datetime.now(UTC)


def identity(version: MlflowVersion) -> str:
    """The content identity of an MLflow model version: its run id and source."""
    return hashlib.sha256(f"{version.run_id or ''}\n{version.source or ''}".encode()).hexdigest()


def validation_tags(result: Mapping[str, Any]) -> dict[str, str]:
    """A golden-set result (`Validation.as_dict()`) as MLflow version tags."""
    tags = {
        f"{TAG_VALIDATION}passed": str(bool(result.get("passed"))).lower(),
        f"{TAG_VALIDATION}rows": str(result.get("rows", 0)),
    }
    if result.get("error"):
        tags[f"{TAG_VALIDATION}error"] = str(result["error"])[:5000]  # MLflow's tag limit
    for check in result.get("checks", ()):
        tags[f"{TAG_VALIDATION}{check['metric']}"] = f"{float(check['value']):.6g}"
    return tags


class MlflowRegistry(LocalRegistry):
    """Model versions from an MLflow Model Registry; see the module docstring."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        artifacts: Path,
        alias: str = "champion",
        timeout_s: int = 10,
        retries: int = 2,
        now: Callable[[], datetime] = _now,
    ) -> None:
        super().__init__(artifacts)
        self.uri = tracking_uri
        self.alias = alias
        self.now = now
        for name, value in (
            ("MLFLOW_DISABLE_TELEMETRY", "true"),
            ("MLFLOW_HTTP_REQUEST_TIMEOUT", str(timeout_s)),
            ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(retries)),
            ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
        ):
            os.environ.setdefault(name, value)
        try:
            from mlflow import MlflowClient
        except ModuleNotFoundError:
            problem = Problem(
                "registry.type", "mlflow", "needs MLflow: pip install ripcord[mlflow]"
            )
            raise InputError("registry", [problem]) from None
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def _call(self, operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one MLflow call; whatever it raises comes out as a RegistryError."""
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except (MlflowException, OSError) as exc:  # requests' errors are OSErrors
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise RegistryError(self.uri, operation, detail) from exc

    # -- versions -------------------------------------------------------------------------
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
        problem = Problem(
            "registry.type",
            "mlflow",
            f"registers versions in MLflow (log_model with registered_model_name={model!r}); "
            "Ripcord mirrors them with sync",
        )
        raise InputError("version", [problem])

    def sync(self, session: Session, model: str) -> list[ModelVersion]:
        """Mirror MLflow's versions of `model`; return the rows added. Versions already
        mirrored keep Ripcord's record, and get the tags MLflow is missing."""
        known = {row.version: row for row in self.versions(session, model)}
        added = []
        for found in sorted(self._search(model), key=lambda v: int(v.version)):
            row = known.get(str(found.version))
            if row is None:
                added.append(self._mirror(session, model, found))
            else:
                self._push_tags(row, dict(found.tags or {}))
        return added

    def _search(self, model: str) -> list[MlflowVersion]:
        found: list[MlflowVersion] = []
        token: str | None = None
        while True:
            page = self._call(
                f"search_model_versions {model}",
                self.client.search_model_versions,
                filter_string=f"name = '{model}'",
                max_results=1000,
                page_token=token,
            )
            found.extend(page)
            token = page.token
            if not token:
                return found

    def _mirror(self, session: Session, model: str, found: MlflowVersion) -> ModelVersion:
        tags = dict(found.tags or {})
        health = tags.get(TAG_HEALTH, Health.UNKNOWN)
        row = ModelVersion(
            model=model,
            version=str(found.version),
            parent=tags.get(TAG_PARENT),
            artifact=f"models:/{model}/{found.version}",
            sha256=identity(found),
            created_at=datetime.fromtimestamp(found.creation_timestamp / 1000.0, UTC),
            health=health if health in _HEALTHS else Health.UNKNOWN,
            meta={"mlflow": {"uri": self.uri, "run_id": found.run_id, "source": found.source}},
        )
        session.add(row)
        audit.append(
            session,
            at=self.now(),
            actor="ripcord",
            action="version.sync",
            subject=f"model:{model}",
            reason=f"mirrored from MLflow at {self.uri}",
            after={"version": row.version, "sha256": row.sha256, "health": row.health},
        )
        return row

    def get(self, session: Session, model: str, version: str) -> ModelVersion:
        """A mirrored version; one not mirrored yet is looked up in MLflow first."""
        row = self.find(session, model, version)
        if row is None:
            self.sync(session, model)
            row = self.find(session, model, version)
        if row is None:
            raise NotFoundError("version", f"{model}@{version}")
        return row

    # -- loading --------------------------------------------------------------------------
    def load(self, row: ModelVersion) -> MlflowPredictor:
        """The version through MLflow's pyfunc loader, after checking it is still the
        content that was mirrored."""
        where = f"{row.model}/{row.version}"
        found = self._call(
            f"get_model_version {where}", self.client.get_model_version, row.model, row.version
        )
        if identity(found) != row.sha256:
            message = f"does not match the mirrored version (MLflow now has source {found.source})"
            raise InputError("artifact", [Problem("sha256", row.artifact, message)])
        folder = self._download(row)
        try:
            return open_pyfunc(folder)
        except Exception as exc:  # a version that will not load fails, the next is tried
            message = f"does not load with mlflow.pyfunc: {type(exc).__name__}: {exc}"
            raise InputError("artifact", [Problem("artifact", row.artifact, message)]) from exc

    def _download(self, row: ModelVersion) -> Path:
        """The version's files, fetched once per content identity; a download lands under
        a temporary name and is renamed whole, so a half-fetched folder is never used."""
        target = self.artifacts / "mlflow" / row.model / row.version / row.sha256[:16]
        if target.is_dir():
            return target
        import mlflow.artifacts

        # MLflow resolves a models:/ URI against its process-wide registry URI whatever it is
        # told, so the version's files are located through this registry's own client.
        source = self._call(
            f"get_model_version_download_uri {row.model}/{row.version}",
            self.client.get_model_version_download_uri,
            row.model,
            row.version,
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".download-"))
        try:
            local = self._call(
                f"download_artifacts {source}",
                mlflow.artifacts.download_artifacts,
                artifact_uri=source,
                dst_path=str(staging),
                tracking_uri=self.uri,
                registry_uri=self.uri,
            )
            if not target.is_dir():  # another process may have finished the same download
                os.replace(local, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    # -- deployments, marks and validation ------------------------------------------------
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
        """Move the serving alias to `version`, and keep the move in `deployments`."""
        row = super().record_deployment(
            session, model=model, version=version, at=at, actor=actor, kind=kind, reason=reason
        )
        registered = self._call(
            f"get_registered_model {model}", self.client.get_registered_model, model
        )
        previous = (registered.aliases or {}).get(self.alias)
        audit.append(
            session,
            at=at,
            actor=actor,
            action="registry.alias",
            subject=f"model:{model}",
            reason=reason or kind,
            before={"alias": self.alias, "version": previous},
            after={"alias": self.alias, "version": version},
        )
        session.flush()  # the database has said yes before MLflow is changed
        self._call(
            f"set_registered_model_alias {model}@{self.alias}",
            self.client.set_registered_model_alias,
            model,
            self.alias,
            version,
        )
        return row

    def reconcile(self, session: Session, *, model: str, serving: str, at: datetime) -> bool:
        """Point the alias back at the serving version if a failed step left it elsewhere
        (MLflow was changed, then the database write after it was rolled back)."""
        registered = self._call(
            f"get_registered_model {model}", self.client.get_registered_model, model
        )
        current = (registered.aliases or {}).get(self.alias)
        if current == serving:
            return False
        audit.append(
            session,
            at=at,
            actor="ripcord",
            action="registry.alias",
            subject=f"model:{model}",
            reason="reconciled with the routing table",
            before={"alias": self.alias, "version": current},
            after={"alias": self.alias, "version": serving},
        )
        session.flush()
        self._call(
            f"set_registered_model_alias {model}@{self.alias}",
            self.client.set_registered_model_alias,
            model,
            self.alias,
            serving,
        )
        return True

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
        super().mark(session, row, health, at=at, actor=actor, reason=reason)
        self._set_tags(row, {TAG_HEALTH: health})

    def record_validation(
        self, session: Session, row: ModelVersion, result: Mapping[str, Any]
    ) -> None:
        self._set_tags(row, validation_tags(result))

    def _desired_tags(self, row: ModelVersion) -> dict[str, str]:
        tags = {} if row.health == Health.UNKNOWN else {TAG_HEALTH: row.health}
        return tags | (validation_tags(row.validation) if row.validation else {})

    def _push_tags(self, row: ModelVersion, current: Mapping[str, str]) -> None:
        wanted = self._desired_tags(row)
        self._set_tags(row, {k: v for k, v in wanted.items() if current.get(k) != v})

    def _set_tags(self, row: ModelVersion, tags: Mapping[str, str]) -> bool:
        """Best effort: the database holds the record; a failure waits for the next sync."""
        try:
            for key, value in tags.items():
                self._call(
                    f"set_model_version_tag {row.model}/{row.version} {key}",
                    self.client.set_model_version_tag,
                    row.model,
                    row.version,
                    key,
                    value,
                )
        except RegistryError as exc:
            log.warning(
                "mlflow tags not written; the next sync writes them",
                extra={"model": row.model, "version": row.version, "error": str(exc)},
            )
            return False
        return True
