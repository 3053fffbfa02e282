"""The SOP file's optional `gateway:` section: where `ripcord gateway` finds each version.

`ripcord gateway` is an HTTP reverse proxy in front of any model server. The routing table
names versions; this section says which base URL serves each one, and how to read a
prediction (and a confidence) from the server's JSON answer.

    gateway:
      timeout_s: 2.0                  # per upstream call; slower counts as a failure
      models:
        credit-risk:
          versions:                   # version (as the routing table names it) → base URL
            v1: http://127.0.0.1:9001
            v2: http://127.0.0.1:9002
          path: /predict              # appended to every base URL
          fallback_url: http://127.0.0.1:9009/predict   # optional, a full URL
          request_field: null         # null: the features are the body; "inputs" → {"inputs": …}
          prediction: prediction      # dotted path in the answer, e.g. "predictions.0"
          confidence: confidence      # dotted path, or null when the server gives none

Pure: pydantic only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, PositiveFloat

from ripcord.errors import Problem
from ripcord.sop.base import Strict

if TYPE_CHECKING:
    from ripcord.sop.schema import Sop


def _http(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError("is not an http(s) URL")
    return url.rstrip("/")


Url = Annotated[str, Field(min_length=8, max_length=2000), AfterValidator(_http)]
Key = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")]
_DOTTED = r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$"
Dotted = Annotated[str, Field(min_length=1, max_length=200, pattern=_DOTTED)]


class GatewayModel(Strict):
    """One model behind the gateway: its versions' servers and the shape of their JSON."""

    versions: dict[Key, Url] = Field(min_length=1)
    path: Annotated[str, Field(max_length=500, pattern=r"^(/[^\s]*)?$")] = "/predict"
    fallback_url: Url | None = None
    request_field: Key | None = None
    prediction: Dotted = "prediction"
    confidence: Dotted | None = "confidence"

    def url(self, version: str) -> str | None:
        """Where `version` answers, or None when this section does not name it."""
        base = self.versions.get(version)
        return None if base is None else base + self.path


class GatewaySpec(Strict):
    timeout_s: Annotated[PositiveFloat, Field(le=300.0)] = 2.0
    models: dict[Key, GatewayModel] = Field(default_factory=dict)


def gateway_problems(sop: Sop) -> list[Problem]:
    """Cross-references: every gateway model is a model of the SOP file."""
    if sop.gateway is None:
        return []
    return [
        Problem(f"gateway.models.{name}", name, "is not a defined model")
        for name in sop.gateway.models
        if name not in sop.models
    ]
