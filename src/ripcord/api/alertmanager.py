"""POST /v1/alertmanager: Alertmanager's webhook receiver (payload version 4).

Point a `webhook_config` at it with a responder token, or with the receiver's own
credential when the SOP's `alertmanager.auth` (or `create_app(alertmanager_auth=...)`)
configures one (see `webhook_auth`):

    receivers:
      - name: ripcord
        webhook_configs:
          - url: http://ripcord:8000/v1/alertmanager
            send_resolved: true
            http_config:
              authorization: {type: Bearer, credentials_file: /etc/alertmanager/ripcord-token}

What a notification does is `ripcord.incidents.alertmanager`'s to say; this module is the
HTTP face: the token, the lock, the counters and the answer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ripcord.access import Role
from ripcord.api.deps import Credentials, Principal, State, caller
from ripcord.api.errors import RESPONSES
from ripcord.incidents import alertmanager
from ripcord.incidents.alertmanager_payload import AlertmanagerNotification

router = APIRouter(tags=["alertmanager"])
_responder = caller(Role.RESPONDER)


async def sender(request: Request, state: State, credentials: Credentials) -> Principal:
    """The webhook's own credential when one is configured (checked against the raw body,
    before it is parsed), else a responder API token."""
    auth = state.alertmanager_auth
    if auth is None:
        return await run_in_threadpool(_responder, request, state, credentials)
    auth.verify(request.headers, await request.body(), now=state.rc.clock.now())
    return Principal(auth.actor, Role.RESPONDER)


Sender = Annotated[Principal, Depends(sender)]


class AlertmanagerReceipt(BaseModel):
    group_key: str
    incident_id: int | None = Field(description="the group's incident; null if it has none")
    new: list[str] = Field(description="fingerprints that joined the incident's timeline")
    repeated: list[str] = Field(description="fingerprints already recorded: nothing added")
    resolved: list[str] = Field(description="fingerprints whose resolution was recorded")
    ignored: list[str] = Field(description="resolved alerts of a group with no incident here")
    incident_resolved: bool = Field(description="this notification resolved the incident")


@router.post("/v1/alertmanager", responses=RESPONSES)
def receive(
    notification: AlertmanagerNotification, state: State, who: Sender
) -> AlertmanagerReceipt:
    """Take one Alertmanager group notification.

    `groupKey` maps to one incident; `fingerprint` de-duplicates (Alertmanager re-sends a
    group's alerts, and a repeat adds nothing); firing alerts go through triage like a
    detector's signal (family `external_alert`), their model and SEV read from labels as
    the SOP's `alertmanager:` section says; resolutions are recorded on the timeline, and
    resolve the incident once all its alerts have resolved and nothing else holds it.
    A notification with an alert whose model is missing or unknown is refused whole (422,
    naming `alerts[i].labels.model`). Needs the responder role, as alerts can set off
    containment; a server configured with a webhook credential takes that instead (a
    shared bearer token, or `X-Ripcord-Timestamp` and `X-Ripcord-Signature:
    sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`), and refuses anything else with 401.
    """
    with state.runtime() as rc:
        receipt = alertmanager.receive(rc, notification, actor=who.name)
    for outcome in ("new", "repeated", "resolved", "ignored"):
        count = len(getattr(receipt, outcome))
        if count:
            state.metrics.alerts.labels(outcome).inc(count)
    return AlertmanagerReceipt(
        group_key=receipt.group_key,
        incident_id=receipt.incident_id,
        new=receipt.new,
        repeated=receipt.repeated,
        resolved=receipt.resolved,
        ignored=receipt.ignored,
        incident_resolved=receipt.incident_resolved,
    )
