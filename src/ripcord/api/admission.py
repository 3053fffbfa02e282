"""Bounded admission for ingestion: past a limit of queued events, answer 429 at once.

The runtime takes one batch at a time (see `deps`), so batches that arrive faster than it
stores and checks them wait in a queue. Unbounded, that queue turns a burst into minutes
of latency, then timeouts and client retries that double the load. Instead, every batch is
weighed (its number of events) against the events already admitted and not yet answered;
a batch that would take the total over `limit` is refused with 429 and a `Retry-After`
(RFC 9110 §10.2.3, in whole seconds) before anything of it is stored, so a client that
backs off and resends loses nothing and doubles nothing.

A batch larger than the limit on its own is still admitted when nothing else is queued:
otherwise it could never pass.

`Retry-After` is the time the runtime would take to drain the queue at the rate it has
been draining it, at least one second and at most `MAX_RETRY_AFTER_S`. The rate is an
exponentially weighted average of events per busy second: a batch's events over the time
from the later of its admission and the previous answer to its own answer, so neither
waiting in the queue nor idle time between bursts counts.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ripcord.errors import RipcordError

#: under a second of work at the embedded store's rate (benchmarks/ingest.py)
DEFAULT_MAX_QUEUED_EVENTS = 10_000
MAX_RETRY_AFTER_S = 30
#: weight of the newest batch in the drain-rate average
SMOOTHING = 0.2


class OverloadedError(RipcordError):
    """The server is at its ingestion limit; nothing was stored. Retry after `retry_after`
    seconds (the HTTP layer sends it as `Retry-After`)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Admission:
    """Counts the events admitted and not yet answered, against `limit`. Thread-safe."""

    def __init__(
        self,
        limit: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_refuse: Callable[[], object] | None = None,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ValueError(f"max_queued_events: {limit!r} must be an int > 0")
        self.limit = limit
        self.queued = 0
        self.refused = 0
        self._rate: float | None = None  # events per busy second the runtime drains
        self._last_done = float("-inf")
        self._clock = clock
        self._on_refuse = on_refuse  # e.g. a Prometheus counter's `inc`
        self._lock = threading.Lock()

    def refuse_if_full(self) -> None:
        """OverloadedError if the queue is already at its limit, whatever the batch: lets
        the caller refuse before paying to parse it."""
        with self._lock:
            if self.queued >= self.limit:
                self._refuse(0)

    @contextmanager
    def admit(self, events: int) -> Iterator[None]:
        """Hold `events` in the queue for the duration of the block; OverloadedError
        (nothing held) if they do not fit."""
        with self._lock:
            if self.queued and self.queued + events > self.limit:
                self._refuse(events)
            self.queued += events
        start = self._clock()
        try:
            yield
        finally:
            self._done(events, start)

    def _done(self, events: int, start: float) -> None:
        with self._lock:
            now = self._clock()
            seconds = now - max(start, self._last_done)
            self._last_done = now
            self.queued -= events
            if seconds > 0:
                rate = events / seconds
                old = self._rate
                self._rate = rate if old is None else old + SMOOTHING * (rate - old)

    def _refuse(self, events: int) -> None:
        self.refused += 1
        if self._on_refuse is not None:
            self._on_refuse()
        more = f"{events} more would pass" if events else "at"
        raise OverloadedError(
            f"ingestion: {self.queued} events queued, {more} the limit of {self.limit}; "
            "nothing of this batch was stored",
            self._retry_after(),
        )

    def _retry_after(self) -> int:
        if not self._rate:
            return 1
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil(self.queued / self._rate)))
