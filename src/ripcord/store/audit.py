"""The audit log: append-only and hash-chained, so an edited or deleted row shows.

Each row's hash is SHA-256 over the previous row's hash and a canonical JSON of the row's
own content (ids included, so deleting a row in the middle breaks the chain at the next one).
Truncating the tail leaves a valid shorter chain: compare the head hash that `verify`
returns with one kept elsewhere (a report, a ticket) to catch that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ripcord.clock import utc
from ripcord.errors import AuditError
from ripcord.store.tables import AuditRow

GENESIS = "0" * 64
_LOCK_KEY = 0x52495043  # "RIPC": the advisory lock that serialises audit appends


def _digest(
    prev_hash: str,
    row_id: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    reason: str,
    before: Any,
    after: Any,
) -> str:
    content = json.dumps(
        [row_id, at.isoformat(), actor, action, subject, reason, before, after],
        sort_keys=True,
        separators=(",", ":"),
        default=_jsonable,
    )
    return hashlib.sha256(f"{prev_hash}:{content}".encode()).hexdigest()


def _row_digest(row: AuditRow, prev_hash: str) -> str:
    return _digest(
        prev_hash,
        row.id,
        row.at,
        row.actor,
        row.action,
        row.subject,
        row.reason,
        row.before,
        row.after,
    )


def append(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    reason: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditRow:
    """Add one audit row inside the caller's transaction.

    Appends are serialised: on PostgreSQL by a transaction-scoped advisory lock (two
    replicas appending at once would otherwise both read the same last row and fork the
    chain); SQLite already allows one writer at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = session.execute(
        select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1).with_for_update()
    ).first()
    prev_id, prev_hash = (last[0], last[1]) if last else (0, GENESIS)
    at = utc(at)
    row = AuditRow(
        id=prev_id + 1,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        reason=reason,
        before=_plain(before),
        after=_plain(after),
        prev_hash=prev_hash,
        hash="",
    )
    row.hash = _row_digest(row, prev_hash)
    session.add(row)
    session.flush()
    return row


def _jsonable(value: Any) -> Any:
    to_list = getattr(value, "tolist", None)  # numpy scalars and arrays
    return to_list() if callable(to_list) else str(value)


def plain(data: Mapping[str, Any]) -> dict[str, Any]:
    """Round-trip through JSON, so what is hashed or compared is exactly what is stored."""
    result: dict[str, Any] = json.loads(json.dumps(dict(data), default=_jsonable))
    return result


def _plain(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if data is None else plain(data)


@dataclass(frozen=True)
class Verification:
    rows: int
    head: str


def verify(session: Session) -> Verification:
    """Walk the chain; raise AuditError at the first row that does not verify."""
    prev_hash, expected_id, count = GENESIS, 1, 0
    for row in session.scalars(select(AuditRow).order_by(AuditRow.id)):
        if row.id != expected_id:
            raise AuditError(f"audit row {expected_id} is missing (next row is {row.id})")
        if row.prev_hash != prev_hash:
            raise AuditError(f"audit row {row.id}: prev_hash does not match row {row.id - 1}")
        if _row_digest(row, prev_hash) != row.hash:
            raise AuditError(f"audit row {row.id}: content does not match its hash (edited)")
        prev_hash, expected_id, count = row.hash, expected_id + 1, count + 1
    return Verification(rows=count, head=prev_hash)
