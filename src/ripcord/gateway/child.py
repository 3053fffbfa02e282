"""The gateway's runtime in a child process: what `ripcord gateway` runs.

Detection, the responder and the database writes cost more CPU per event than routing a
request, and in the gateway's own process they would hold the GIL the event loop needs
(every socket write gives it up and has to wait to get it back). So the gateway keeps only
a mirror of the routing table, which a small thread keeps in step with the stored rows
(`respond.refresh`), and ships its records in batches to a child process that opens its
own Ripcord runtime on the same database and runs the loop of `gateway.runtime`.

A breaker trip takes effect in the gateway's mirror at once (no further call goes to the
failing upstream) and is committed, with its audit row, by the child; the mirror then
follows the stored row. Containment decided by the child's responder reaches the gateway
through the table within `refresh_every`. A child that dies is started again (records
sent meanwhile are lost and counted); one that is stopped first works through its queue.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from pathlib import Path
from typing import Any

from ripcord.gateway.runtime import STOP, Job, Record, Trip, serve
from ripcord.respond.breaker import BreakerState
from ripcord.respond.refresh import Refresher
from ripcord.respond.routing import RoutingTable
from ripcord.store.db import Database

log = logging.getLogger(__name__)
_SPAWN = multiprocessing.get_context("spawn")  # no fork of a process with threads
RESTART_S = 5.0  # at most one restart this often: a child that cannot start must not spin
WARN_S = 10.0  # at most one "records dropped" warning this often


class RuntimeProcess:
    """Batches of at most `batch` records, shipped at least every `batch_s` seconds.

    Every wake-up of the shipping thread takes the GIL from the event loop for a moment
    and every batch is a pickling and a pipe write, so `batch_s` trades how soon the child
    sees a record (detection can wait 50 ms) against the request path's CPU and stalls.

    The child runs at `nice` (added to the gateway's niceness, 5 by default): when the
    machine is short of CPU, the request path and the model server get it first, and the
    records wait in the queue (at most `capacity`, then dropped and counted)."""

    def __init__(
        self,
        sop_path: Path,
        *,
        db: Database,
        home: Path,
        routes: RoutingTable,
        refresh_every: float = 0.5,
        capacity: int = 10_000,
        batch: int = 64,
        batch_s: float = 0.05,
        nice: int = 5,
    ) -> None:
        if not 0 <= nice <= 19:
            raise ValueError(f"nice: {nice!r} must be in [0, 19]")
        self.args = (str(sop_path), db.url, str(home), refresh_every, nice)
        self.routes = routes
        self.refresher = Refresher(routes, db, every=refresh_every)
        self.db = db
        self.batch, self.batch_s = batch, batch_s
        self.jobs: Any = _SPAWN.Queue(maxsize=max(capacity // batch, 1))
        self.dropped = 0
        self._pending: list[Job] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.child: Any = None
        self.ready: Any = _SPAWN.Event()  # set by the child once its runtime is open
        self._spawned_at = 0.0
        self._warned_at = -WARN_S
        self._ticker = threading.Thread(target=self._tick, name="ripcord-ship", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._ticker.start()

    def _spawn(self) -> None:
        self._spawned_at = time.monotonic()
        self.ready.clear()
        args = (*self.args, self.jobs, self.ready)
        self.child = _SPAWN.Process(target=main, args=args, daemon=True)
        self.child.start()

    @property
    def status(self) -> str:
        """starting (the child imports and opens its runtime), ready, or down."""
        if not self.alive:
            return "down"
        return "ready" if self.ready.is_set() else "starting"

    @property
    def alive(self) -> bool:
        return self.child is not None and bool(self.child.is_alive())

    def record(self, record: Record) -> None:
        with self._lock:
            self._pending.append(record)
            full = len(self._pending) >= self.batch
        if full:
            self._ship()

    def trip(self, model: str, reason: str) -> None:
        """Open the breaker in the mirror now; the child commits it (and audits it)."""
        breaker = self.routes.breaker(model)
        if breaker.state.breaker is not BreakerState.OPEN:
            breaker.set(BreakerState.OPEN)
        with self._lock:
            self._pending.append(Trip(model, reason))
        self._ship()

    def _ship(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            self.jobs.put_nowait(batch)
        except queue.Full:
            self.dropped += len(batch)
            if time.monotonic() - self._warned_at >= WARN_S:  # a warning, not a flood
                self._warned_at = time.monotonic()
                log.warning("runtime queue full: records dropped", extra={"dropped": self.dropped})

    def _tick(self) -> None:
        """Ship what waits, follow the stored routing, and restart a child that died."""
        while not self._stopping.wait(self.batch_s):
            self._ship()
            if not self.refresher.due():  # the rest is slower work, at the refresh cadence
                continue
            self.refresher.check()
            restart = time.monotonic() - self._spawned_at >= RESTART_S
            if restart and not self.alive and not self._stopping.is_set():
                log.error("gateway runtime process ended; starting it again")
                self._spawn()

    def stop(self, timeout: float = 10.0) -> None:
        """Ship the last records, let the child work through its queue, and end it."""
        self._stopping.set()
        if self._ticker.is_alive():
            self._ticker.join(timeout)
        self._ship()
        if self.alive:
            self.jobs.put(STOP, timeout=timeout)
            self.child.join(timeout)
            if self.child.is_alive():
                log.error("gateway runtime process did not stop; terminating it")
                self.child.terminate()
                self.child.join(timeout)
        self.jobs.close()
        self.db.dispose()


def main(
    sop_path: str, url: str, home: str, refresh_every: float, nice: int, jobs: Any, ready: Any
) -> None:
    """The child: its own runtime on the same database, fed from `jobs` until STOP. Ctrl-C
    reaches the whole process group; the child ignores it and ends when the gateway says.
    It lowers its priority once started (starting is not slowed down)."""
    from ripcord.app import Ripcord

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    started = time.monotonic()
    rc = Ripcord.open(Path(sop_path), url=url, home=Path(home))
    log.info("gateway runtime started", extra={"seconds": time.monotonic() - started})
    if nice and hasattr(os, "nice"):
        os.nice(nice)
    ready.set()
    try:
        serve(rc, jobs, Refresher(rc.routes, rc.db, every=refresh_every))
    finally:
        rc.close()
