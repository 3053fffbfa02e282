"""A runtime with v1 (good) and v2 (broken join) registered, v1 deployed and verified."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills import credit
from ripcord.drills.demo import MODEL, Traffic
from ripcord.notify import RecordingChannel
from ripcord.store.tables import Incident

V1 = credit.train()
V2 = credit.train(broken=True)


class Drive:
    """Serve seeded traffic, 50 ms apart on the manual clock."""

    def __init__(self, rc: Ripcord, clock: ManualClock) -> None:
        self.rc, self.clock = rc, clock
        self.traffic = Traffic(rc, rc.guard(MODEL), seed=11)

    def serve(self, n: int, until: Callable[[], bool] | None = None) -> int:
        for i in range(n):
            self.clock.advance(0.05)
            self.traffic.step()
            if until is not None and until():
                return i + 1
        return n

    def incident(self) -> Incident | None:
        with self.rc.db.session() as session:
            return session.scalars(select(Incident).order_by(Incident.id.desc())).first()


def deploy_v1(rc: Ripcord, clock: ManualClock) -> Drive:
    rc.register(MODEL, "v1", V1, actor="ci")
    rc.register(MODEL, "v2", V2, actor="ci", parent="v1")
    rc.deploy(MODEL, "v1", actor="ci")
    d = Drive(rc, clock)
    d.serve(900)
    return d


@pytest.fixture
def drive(rc: Ripcord, clock: ManualClock) -> Drive:
    return deploy_v1(rc, clock)


@pytest.fixture
def rc_pg(
    pg_url: str, sop_file: Path, tmp_path: Path, clock: ManualClock, channel: RecordingChannel
) -> Iterator[Ripcord]:
    app = Ripcord.open(
        sop_file,
        url=pg_url,
        home=tmp_path,
        clock=clock,
        channels={"console": channel},
        send_inline=True,
    )
    yield app
    app.close()
