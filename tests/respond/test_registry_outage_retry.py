"""The registry down during a rollback, against a real MLflow tracking server behind a
loopback switch: each failed step is rolled back whole and retried with backoff; if the
registry comes back the rollback goes on, else it escalates — never half-done (no alias
moved, no deployment recorded, routing still the contained, audited state).

The backoff's sleep is injected: it records the delay and may switch the registry back on,
so nothing here waits on a timer."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills.demo import MODEL
from ripcord.notify import RecordingChannel
from ripcord.respond.rollback import Step
from ripcord.store.tables import Action
from tests.registry.conftest import (  # noqa: F401  (fixtures used by name)
    Gate,
    Registered,
    clean_registry,
    client_for,
    mlflow_server,
    open_runtime,
    registered,
)
from tests.respond.conftest import Drive
from tests.respond.test_rollback_retry import actions, audited_routing

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:X has feature names:UserWarning"),
]


class Switch(Gate):
    """A gate that goes off the air (open connections dropped, new ones refused at once)
    and comes back on."""

    def __init__(self, registry_url: str) -> None:
        self.down = threading.Event()
        self.registry_url = registry_url  # the server itself, to look at it past the switch
        super().__init__(int(registry_url.rsplit(":", 1)[1]))

    def _accept(self) -> None:
        while True:
            try:
                inbound, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.down.is_set():
                inbound.close()
                continue
            outbound = socket.create_connection(("127.0.0.1", self.upstream))
            with self.lock:
                self.sockets += [inbound, outbound]
            for src, dst in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def off(self) -> None:
        self.down.set()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.sockets.clear()

    def on(self) -> None:
        self.down.clear()


@pytest.fixture
def switch(registered: Registered) -> Iterator[Switch]:  # noqa: F811
    s = Switch(registered.url)
    yield s
    s.close()


@pytest.fixture
def contained(switch: Switch, tmp_path: Path) -> Iterator[tuple[Ripcord, Drive]]:
    """Version 1 verified, version 2 deployed, caught and contained; v1 validated and
    waiting for approval."""
    clock = ManualClock()
    rc = open_runtime(tmp_path, switch.url, clock, RecordingChannel(name="console"))
    try:
        rc.deploy(MODEL, "1", actor="ci")
        drive = Drive(rc, clock)
        drive.serve(600)
        rc.deploy(MODEL, "2", actor="deploy-bot")
        drive.serve(400, until=lambda: drive.incident() is not None)
        yield rc, drive
    finally:
        rc.close()


def champion(url: str) -> str | None:
    aliases: dict[str, str] = client_for(url).get_registered_model(MODEL).aliases or {}
    return aliases.get("champion")


def rollback_deployments(rc: Ripcord) -> list[str]:
    with rc.db.session() as session:
        rows = rc.registry.deployments(session, MODEL)
        return [d.version for d in rows if d.kind == "rollback"]


@pytest.mark.parametrize("comes_back", [False, True])
def test_the_registry_down_during_promotion(
    contained: tuple[Ripcord, Drive],
    switch: Switch,
    comes_back: bool,
) -> None:
    rc, _ = contained
    [action] = rc.pending_approvals()
    delays: list[float] = []

    def backoff(delay: float) -> None:
        delays.append(delay)
        if comes_back:
            switch.on()

    rc.runner.sleep = backoff
    switch.off()
    step = rc.approve(action.id, actor="carol")
    switch.on()  # to look at MLflow afterwards
    retries = actions(rc, "rollback.retry")
    assert all("RegistryError: registry " in r for r in retries)
    routing = audited_routing(rc)
    if comes_back:  # promoted once, as if the outage had not been
        assert (step, delays, len(retries)) == (Step.VERIFYING, [0.5], 1)
        assert (routing["serving"], routing["breaker"], routing["share"]) == ("1", "half_open", 0.1)
        assert champion(switch.registry_url) == "1"
        assert rollback_deployments(rc) == ["1"]
        return
    assert (step, delays, len(retries)) == (Step.ESCALATED, [0.5, 1.0], 2)
    assert (routing["serving"], routing["breaker"]) == ("2", "open")  # still contained
    assert champion(switch.registry_url) == "2"  # the alias never moved
    assert rollback_deployments(rc) == []
    [escalated] = actions(rc, "rollback.escalated")
    assert "RegistryError" in escalated and "3 attempt(s)" in escalated
    with rc.db.session() as session:
        stored = session.scalars(select(Action)).one()
        assert (stored.status, stored.approved_by) == ("escalated", "carol")


def test_the_registry_down_during_validation_then_back(
    switch: Switch,
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    rc = open_runtime(tmp_path, switch.url, clock, RecordingChannel(name="console"))
    try:
        rc.deploy(MODEL, "1", actor="ci")
        drive = Drive(rc, clock)
        drive.serve(600)
        rc.deploy(MODEL, "2", actor="deploy-bot")
        drive.serve(1)  # the guard serves version 2 from memory from now on
        delays: list[float] = []

        def backoff(delay: float) -> None:
            delays.append(delay)
            switch.on()

        rc.runner.sleep = backoff
        switch.off()
        drive.serve(400, until=lambda: drive.incident() is not None)
        [action] = rc.pending_approvals()  # validated once the registry was back
        assert delays == [0.5]
        assert [(t["version"], t["passed"]) for t in action.data["tried"]] == [("1", True)]
        assert "RegistryError: registry " in actions(rc, "rollback.retry")[0]
        assert audited_routing(rc)["breaker"] == "open"
    finally:
        rc.close()


def test_an_alias_moved_by_a_promotion_that_then_failed_is_put_back(
    contained: tuple[Ripcord, Drive], switch: Switch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's alias moves before the promotion's own database writes; when those keep
    failing, the rollback escalates and the alias goes back to what routing serves."""
    rc, _ = contained
    [action] = rc.pending_approvals()
    rc.runner.sleep = lambda delay: None
    apply = rc.routes.apply

    def failing_apply(*args: object, **changes: object) -> None:
        if changes.get("breaker") == "half_open":  # the promotion's routing write
            raise RuntimeError("routing store unavailable")
        apply(*args, **changes)  # type: ignore[arg-type]

    monkeypatch.setattr(rc.routes, "apply", failing_apply)
    assert rc.approve(action.id, actor="carol") is Step.ESCALATED
    routing = audited_routing(rc)
    assert (routing["serving"], routing["breaker"]) == ("2", "open")
    assert champion(switch.registry_url) == "2"  # moved to 1 on each try, then put back
    reasons = [r for r in actions(rc, "registry.alias") if "reconciled" in r]
    assert reasons == ["reconciled with the routing table"]


def test_a_start_puts_back_an_alias_a_crash_left_elsewhere(
    contained: tuple[Ripcord, Drive], switch: Switch
) -> None:
    rc, _ = contained
    client_for(switch.registry_url).set_registered_model_alias(MODEL, "champion", "1")
    rc.responder.resume()  # what a restart runs
    assert champion(switch.registry_url) == "2"  # routing still serves 2 (contained)
    rc.responder.resume()
    assert len([r for r in actions(rc, "registry.alias") if "reconciled" in r]) == 1
