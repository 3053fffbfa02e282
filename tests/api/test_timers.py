"""The service runs the escalation timers on its own, with no traffic to drive them."""

from __future__ import annotations

import gc
import time

import pytest
from fastapi.testclient import TestClient

from ripcord.api import create_app
from ripcord.api.app import GC_THRESHOLD
from ripcord.app import Ripcord
from ripcord.clock import ManualClock


def test_the_timer_thread_escalates_without_traffic(
    rc: Ripcord, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []
    monkeypatch.setattr(
        rc.responder, "escalate_overdue", lambda: calls.append(time.monotonic()) or []
    )
    with TestClient(create_app(rc, tokens_required=False, tick_s=0.02)):
        deadline = time.monotonic() + 5
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the thread's effect with a deadline
    assert len(calls) >= 3
    count = len(calls)
    time.sleep(0.1)
    assert len(calls) == count  # the thread stopped with the app


def test_the_tick_must_be_positive(rc: Ripcord) -> None:
    with pytest.raises(ValueError, match="tick_s: 0"):
        create_app(rc, tick_s=0)


def test_the_collector_is_set_for_a_server_while_it_runs(rc: Ripcord) -> None:
    """What exists at startup is frozen out of the collector's scans and a batch may die
    young; both are undone when the app stops (see `long_lived_heap`)."""
    thresholds = gc.get_threshold()
    with TestClient(create_app(rc, tokens_required=False)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_THRESHOLD, *thresholds[1:])
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == 0
