"""An in-package fake channel, the way httpx ships MockTransport: tests and drills use it to
see exactly what would have been sent, and to rehearse a channel that is down."""

from __future__ import annotations

import threading

from ripcord.notify.base import DeliveryError, MessageKind, Notification


class RecordingChannel:
    """Keeps every delivered message in `messages`; fails the first `fail_times` sends.

    A failed send raises DeliveryError (as a real channel does after its retries) and is not
    recorded. `calls` counts every send, failed or not. Safe to share between threads, as
    the Notifier fans out in parallel.
    """

    def __init__(self, name: str = "fake", fail_times: int = 0) -> None:
        if not name:
            raise ValueError("name: a channel needs a non-empty name")
        if fail_times < 0:
            raise ValueError(f"fail_times: {fail_times} is not >= 0")
        self.name = name
        self.fail_times = fail_times
        self.calls = 0
        self.messages: list[Notification] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"RecordingChannel(name={self.name!r}, fail_times={self.fail_times}, "
            f"calls={self.calls}, messages={len(self.messages)})"
        )

    def send(self, message: Notification) -> None:
        with self._lock:
            self.calls += 1
            if self.calls <= self.fail_times:
                error = f"injected failure {self.calls} of {self.fail_times}"
                raise DeliveryError(self.name, 1, error)
            self.messages.append(message)

    def for_incident(self, incident_id: int) -> list[Notification]:
        """The messages about one incident, in the order they were sent."""
        with self._lock:
            return [m for m in self.messages if m.incident_id == incident_id]

    def kinds(self) -> list[MessageKind]:
        """The kinds sent so far, in order: what a drill checks against the SOP."""
        with self._lock:
            return [m.kind for m in self.messages]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.calls = 0
