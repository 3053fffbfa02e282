"""Model version stores behind one interface: the built-in store, and an MLflow adapter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ripcord.registry.local import LocalRegistry

if TYPE_CHECKING:
    from ripcord.sop.schema import RegistrySpec


def build_registry(
    spec: RegistrySpec, artifacts: Path, *, now: Callable[[], datetime]
) -> LocalRegistry:
    """The registry the SOP file names. MLflow is imported only when it is chosen."""
    if spec.type == "local":
        return LocalRegistry(artifacts)
    from ripcord.registry.mlflow import MlflowRegistry

    assert spec.tracking_uri is not None  # the schema requires it for mlflow
    return MlflowRegistry(
        spec.tracking_uri,
        artifacts=artifacts,
        alias=spec.alias,
        timeout_s=spec.timeout_s,
        retries=spec.retries,
        now=now,
    )
