"""Where the gateway's records go: the Ripcord runtime, fed through a bounded queue.

The runtime is single-threaded (see `api.deps`) and its work per event (detectors, the
responder, a batched SQLite write every 256 events) is slower than routing a request. So
the request path only reads the routing table in memory and hands what it served to a
`Sink`; one loop (`serve`) owns the runtime, turns each record into an inference event,
ingests it, opens the breaker when the request path asks, and every `refresh_every`
seconds writes buffered events and re-reads the routing rows if another process changed
them. The loop runs in a thread of this process (`RuntimeThread`: embedding, tests) or in
a child process (`gateway.child.RuntimeProcess`: what `ripcord gateway` runs, so that
detection never holds the request path's GIL).

A full queue drops the record (counted in `dropped`, logged) rather than slow the traffic:
the gateway must never queue requests behind its own bookkeeping.
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ripcord.app import Ripcord
from ripcord.events import InferenceEvent, Route
from ripcord.gateway.upstream import SCALARS
from ripcord.respond.breaker import BreakerState
from ripcord.respond.refresh import Refresher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """One request as served; becomes an InferenceEvent on the runtime thread."""

    model: str
    version: str
    request_id: str
    at: datetime
    features: dict[str, Any]
    prediction: Any
    confidence: float | None
    latency_ms: float
    route: Route
    error: str | None = None
    violations: tuple[str, ...] = ()

    def event(self) -> InferenceEvent:
        return InferenceEvent(
            model=self.model,
            version=self.version,
            request_id=self.request_id,
            timestamp=self.at,
            features={k: _scalar(v) for k, v in self.features.items()},
            prediction=_scalar(self.prediction),
            confidence=self.confidence,
            latency_ms=self.latency_ms,
            error=self.error,
            route=self.route,
            violations=self.violations,
        )


@dataclass(frozen=True)
class Trip:
    """Open a model's breaker (the request path saw too many consecutive failures)."""

    model: str
    reason: str


Job = Record | Trip
STOP = "stop"  # ends the loop once everything before it is handled


class Jobs(Protocol):
    """A queue the loop reads: `queue.Queue` or `multiprocessing.Queue`."""

    def get(self, block: bool = True, timeout: float | None = None) -> Any: ...


class Sink(Protocol):
    """What the request path hands its records and breaker trips to; never blocks."""

    dropped: int

    @property
    def status(self) -> str: ...

    def start(self) -> None: ...

    def record(self, record: Record) -> None: ...

    def trip(self, model: str, reason: str) -> None: ...

    def stop(self, timeout: float = 10.0) -> None: ...


def _scalar(value: Any) -> Any:
    """Inference events hold scalars; a nested input value is kept as its JSON text."""
    return value if isinstance(value, SCALARS) else json.dumps(value, default=str)


def serve(rc: Ripcord, jobs: Jobs, refresher: Refresher) -> None:
    """The loop that owns the runtime: jobs (one, or a batch as a list) until STOP; on
    each `refresher.every` tick, write buffered events and follow the stored routing."""
    refresher.check()
    while True:
        wait = refresher.every - (refresher.clock() - refresher.checked_at)
        try:
            job = jobs.get(timeout=max(wait, 0.0))
        except queue.Empty:
            job = None
        if job == STOP:  # the host's `rc.close()` sends what the outbox holds
            _guarded(rc.store_held)
            return
        batch = job if isinstance(job, list) else [] if job is None else [job]
        for one in batch:
            _guarded(functools.partial(_handle, rc, one))
        if refresher.due():  # never `rc.flush`: it waits for the channels
            _guarded(rc.store_held)
            refresher.check()


def _handle(rc: Ripcord, job: Job) -> None:
    if isinstance(job, Trip):
        if rc.routes.state(job.model).breaker is not BreakerState.OPEN:
            rc.trip(job.model, reason=job.reason)
        return
    rc.ingest(job.event())


def _guarded(work: Callable[[], object]) -> None:
    """One failing job (a bad record, a locked database) must not end the loop."""
    try:
        work()
    except Exception:
        log.exception("gateway runtime job failed")


class RuntimeThread:
    """The runtime's loop in a thread of this process, for a host that owns `rc` (tests,
    embedding). It shares the GIL with the request path; `ripcord gateway` uses a child
    process instead."""

    def __init__(self, rc: Ripcord, *, refresh_every: float = 0.5, capacity: int = 10_000) -> None:
        self.jobs: queue.Queue[Job | str] = queue.Queue(maxsize=capacity)
        self.dropped = 0
        refresher = Refresher(rc.routes, rc.db, every=refresh_every)
        self.thread = threading.Thread(
            target=serve, args=(rc, self.jobs, refresher), name="ripcord-runtime", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    @property
    def status(self) -> str:
        return "ready" if self.thread.is_alive() else "down"

    def record(self, record: Record) -> None:
        self._put(record)

    def trip(self, model: str, reason: str) -> None:
        self._put(Trip(model, reason))

    def _put(self, job: Job) -> None:
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            self.dropped += 1
            log.warning("runtime queue full: record dropped", extra={"dropped": self.dropped})

    def stop(self, timeout: float = 10.0) -> None:
        """Work through what is queued, write it, and end the thread."""
        if self.thread.is_alive():
            self.jobs.put(STOP, timeout=timeout)
            self.thread.join(timeout)
