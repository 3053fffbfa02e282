"""Signal → traffic on the fallback, and a full validated rollback, on the embedded store.

    python benchmarks/rollback.py [--quick]

`containment_ms`: from the moment the detection engine hands a signal to the responder to
the moment the routing change (breaker open) is committed and the guard's next call goes to
the fallback — measured per incident over several drills. `rollback_s`: from the rollback's
start (a 1,000-row golden set, the approval given at once) to the incident resolved after a
500-event verification window, with traffic served as fast as the guard takes it. The
baseline in the same run is the time the guard needs to serve the same number of requests
with no incident, so the rollback's own cost is visible.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.console import Console
from rich.table import Table

from ripcord.app import Ripcord
from ripcord.drills import credit
from ripcord.drills.demo import MODEL, Traffic, prepare
from ripcord.notify import RecordingChannel
from ripcord.respond.breaker import BreakerState

V1, V2 = credit.train(), credit.train(broken=True)


def drill(home: Path, seed: int) -> dict[str, float]:
    sop = prepare(home / "sop")
    data = yaml.safe_load(sop.read_text())
    data["rollback"]["verification_events"] = 500
    sop.write_text(yaml.safe_dump(data))
    rc = Ripcord.open(sop, home=home, channels={"console": RecordingChannel("console")})
    marks: dict[str, float] = {}
    handle, apply = rc.responder.handle, rc.routes.apply

    def timed_handle(signal: Any) -> Any:
        marks.setdefault("signal", time.perf_counter())
        return handle(signal)

    def timed_apply(*args: Any, **kwargs: Any) -> Any:
        state = apply(*args, **kwargs)
        if kwargs.get("breaker") is BreakerState.OPEN:
            marks.setdefault("open", time.perf_counter())
        return state

    session = rc.db.session

    @contextmanager
    def timed_session() -> Iterator[Any]:
        with session() as s:
            yield s
        if "open" in marks:  # the transaction that opened the breaker has just committed
            marks.setdefault("committed", time.perf_counter())

    rc.responder.handle, rc.routes.apply = timed_handle, timed_apply  # type: ignore[method-assign]
    rc.db.session = timed_session  # type: ignore[method-assign]
    try:
        return run(rc, seed, marks)
    finally:
        rc.close()


def run(rc: Ripcord, seed: int, marks: dict[str, float]) -> dict[str, float]:
    rc.register(MODEL, "v1", V1, actor="bench")
    rc.register(MODEL, "v2", V2, actor="bench")
    rc.deploy(MODEL, "v1", actor="bench")
    traffic = Traffic(rc, rc.guard(MODEL), seed)
    start = time.perf_counter()
    for _ in range(1200):
        traffic.step()
    clean_per_request = (time.perf_counter() - start) / 1200
    rc.deploy(MODEL, "v2", actor="bench")
    while "signal" not in marks:
        traffic.step()
    contained = marks["committed"] - marks["signal"]
    [action] = rc.pending_approvals()
    began = time.perf_counter()
    rc.approve(action.id, actor="carol")
    served = 0
    while rc.verifier.active:
        traffic.step()
        served += 1
    return {
        "containment_ms": contained * 1000,
        "rollback_s": time.perf_counter() - began,
        "served_during_rollback": served,
        "clean_s_same_requests": clean_per_request * served,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 drills instead of 10")
    drills = 3 if parser.parse_args().quick else 10
    results = []
    for seed in range(drills):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(drill(Path(tmp), seed))
    contain = np.array([r["containment_ms"] for r in results])
    rollback = np.array([r["rollback_s"] for r in results])
    clean = np.array([r["clean_s_same_requests"] for r in results])
    table = Table(title=f"containment and rollback, {drills} drills")
    for column in ("figure", "median", "worst"):
        table.add_column(column, justify="right")
    table.add_row("signal → breaker open (ms)", f"{np.median(contain):.2f}", f"{contain.max():.2f}")
    table.add_row("full rollback (s)", f"{np.median(rollback):.2f}", f"{rollback.max():.2f}")
    table.add_row("same requests, no incident (s)", f"{np.median(clean):.2f}", f"{clean.max():.2f}")
    Console().print(table)
    print(
        json.dumps(
            {
                "drills": drills,
                "containment_ms": round(float(np.median(contain)), 2),
                "containment_worst_ms": round(float(contain.max()), 2),
                "rollback_s": round(float(np.median(rollback)), 2),
                "rollback_clean_baseline_s": round(float(np.median(clean)), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
