"""The outbox: notifications leave the response's path and go out on a thread of their own.

A channel to a dead receiver retries with backoff and honours `Retry-After` (`retry.py`):
a minute or more per message. The responder runs on a guarded model call's path and, in
`ripcord serve`, under the runtime's lock, so waiting there would hold a model request, or
a second incident's containment, behind the first incident's page. `Responder.page`
therefore builds its messages and `submit`s them; one worker thread sends them in the
order submitted (an incident's page before its update before its resolution) through the
`Notifier`, which still fans each message out to its channels in parallel, then calls the
job's `done` with the deliveries (the responder writes the Delivery rows there, in its
own transaction). A channel's final failure still goes to the dead letters, from the
Notifier, exactly as when sending inline.

The queue has no bound (a page is never dropped to make room) but is observable:
`pending` counts what is queued or in flight, and a backlog is logged as it grows.
`drain` waits until everything submitted has been sent (`Ripcord.flush`); `close` drains
within a bound, then stores what is still queued as dead letters ("not sent before
shutdown") so that a replay can send it later.

Crash safety: the queue is in memory. A process killed before a queued message went out
loses that message (no Delivery row and no dead letter shows it). The incident, its
containment and its stored escalation timer are committed before the page is queued, so
an unacknowledged incident still pages the next level at its ack deadline; and an
escalation page is marked sent only from its `done` (`respond/escalation.py`), so a
restart sends an escalation page lost this way again.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ripcord.notify.base import Notification
from ripcord.notify.notifier import Delivery, Notifier

log = logging.getLogger(__name__)

#: a backlog this long is logged, then again at each doubling
BACKLOG_WARNING = 64
#: how long `close` waits for the queue to drain before dead-lettering what is left
CLOSE_S = 120.0
SHUTDOWN_ERROR = "not sent before shutdown"

# done(message, deliveries): called on the outbox's thread after the message was sent
Done = Callable[[Notification, list[Delivery]], None]


@dataclass(frozen=True)
class Job:
    message: Notification
    channels: tuple[str, ...]
    done: Done | None


class Outbox:
    """Sends submitted messages in order on one worker thread, started when first needed.

    `notifier` returns the Notifier in use; it is read at send time, so a host (a test, a
    drill) that swaps `Ripcord.notifier` is honoured. An exception in `done` is logged.
    `inline=True` sends on the caller's thread instead, before `submit` returns: for tests
    that read a channel right after an action, never for a service.
    """

    def __init__(
        self,
        notifier: Callable[[], Notifier],
        *,
        inline: bool = False,
        name: str = "ripcord-outbox",
    ) -> None:
        self._notifier = notifier
        self.inline = inline
        self._name = name
        self._jobs: deque[Job] = deque()
        self._busy = 0  # jobs taken by the worker and not finished
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._stopping = False
        self._warn_at = BACKLOG_WARNING
        self.sent = 0  # jobs finished, for observers

    def __repr__(self) -> str:
        return f"Outbox(pending={self.pending}, sent={self.sent})"

    @property
    def pending(self) -> int:
        """Messages queued or being sent."""
        with self._cond:
            return len(self._jobs) + self._busy

    def submit(self, message: Notification, channels: Sequence[str], done: Done | None) -> None:
        """Queue `message` for `channels`; returns at once (unless `inline`)."""
        if self.inline:
            self._finish(
                Job(message, tuple(channels), done), self._notifier().send(message, channels)
            )
            self.sent += 1
            return
        with self._cond:
            self._jobs.append(Job(message, tuple(channels), done))
            self._stopping = False
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._worker.start()
            self._cond.notify_all()
            backlog = len(self._jobs) + self._busy
            if backlog >= self._warn_at:
                self._warn_at *= 2
                log.warning("notification backlog: %d messages", backlog, extra={"queued": backlog})

    def drain(self, timeout: float = CLOSE_S) -> bool:
        """Wait until every message submitted so far was sent and its `done` ran; False if
        `timeout` seconds passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs and not self._busy, timeout)

    def close(self, timeout: float = CLOSE_S) -> None:
        """Drain within `timeout`, then stop the worker. What is still queued is stored as
        dead letters (and Delivery rows, through `done`); a message in flight past the
        bound is left to its daemon thread."""
        drained = self.drain(timeout)
        with self._cond:
            left, self._jobs = list(self._jobs), deque()
            self._stopping = True
            self._cond.notify_all()
            worker = self._worker
        if left:
            log.error("%d notification(s) not sent before shutdown", len(left))
        for job in left:
            deliveries = self._notifier().abandon(job.message, job.channels, SHUTDOWN_ERROR)
            self._finish(job, deliveries)
        if drained and worker is not None:
            worker.join(timeout=1.0)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._jobs) or self._stopping)
                if not self._jobs:  # stopping, nothing left: a later submit starts anew
                    self._worker = None
                    return
                job = self._jobs.popleft()
                self._busy += 1
            try:
                self._finish(job, self._notifier().send(job.message, job.channels))
            except Exception:  # Notifier.send never raises; the worker must outlive a bug
                log.exception("sending a notification failed")
            finally:
                with self._cond:
                    self._busy -= 1
                    self.sent += 1
                    if not self._jobs and self._warn_at > BACKLOG_WARNING:
                        self._warn_at = BACKLOG_WARNING
                    self._cond.notify_all()

    @staticmethod
    def _finish(job: Job, deliveries: list[Delivery]) -> None:
        if job.done is None:
            return
        try:
            job.done(job.message, deliveries)
        except Exception:  # the record of a delivery must not stop the next message
            log.exception(
                "recording a delivery failed", extra={"incident": job.message.incident_id}
            )
