"""Keep a process's routing table in step with the stored rows, without restarts.

A routing change made elsewhere (another process on the same database: `ripcord serve`,
a rollback, the CLI, a second gateway) is committed to the `routing` rows. Every process
that routes traffic (the guard's host, `ripcord gateway`) polls a stamp of those rows every
`every` seconds (0.5 by default) and re-reads them only when the stamp moved, so a change
is served within `every` plus one query, well inside a second.

The stamp is `(count(*), sum(revision))`, one aggregate over a table of one row per model.
`max(revision)` would not do: revisions count per row, so a change to a model whose
revision is below another model's would leave the maximum where it was. Every change adds
exactly one to one row's revision and rows are never deleted, so the sum moves on every
committed change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import func, select

from ripcord.respond.routing import RoutingTable
from ripcord.store.db import Database
from ripcord.store.tables import Routing

log = logging.getLogger(__name__)

Stamp = tuple[int, int]
_STAMP = select(func.count(), func.coalesce(func.sum(Routing.revision), 0)).select_from(Routing)


class Refresher:
    """Re-reads the routing rows into `routes` when their stamp changes.

    Not thread-safe: call it from the thread that owns the runtime (the guard's caller, or
    the gateway's runtime thread)."""

    def __init__(
        self,
        routes: RoutingTable,
        db: Database,
        *,
        every: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if every <= 0:
            raise ValueError(f"every: {every!r} must be > 0")
        self.routes = routes
        self.db = db
        self.every = every
        self.clock = clock
        self.stamp: Stamp | None = None
        self.checked_at = clock()

    def due(self) -> bool:
        return self.clock() - self.checked_at >= self.every

    def maybe(self) -> bool:
        """Check when `every` seconds have passed since the last check; True if reloaded."""
        return self.check() if self.due() else False

    def check(self) -> bool:
        """Read the stamp now; reload every row if it moved. True when the table was
        reloaded. A database that cannot be read keeps the routing in memory as it was."""
        self.checked_at = self.clock()
        try:
            with self.db.engine.connect() as connection:  # lighter than an ORM session
                count, total = connection.execute(_STAMP).one()
            stamp = (int(count), int(total))
            if stamp == self.stamp:
                return False
            with self.db.session() as session:
                self.routes.load(session)
        except Exception:  # a locked or unreachable store: keep serving, try next time
            log.exception("routing refresh failed; keeping the routing in memory")
            return False
        self.stamp = stamp  # read before the rows: a change in between is read next time
        return True
