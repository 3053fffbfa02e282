"""Added latency of the in-process guard, against calling the model directly in the same run.

    python benchmarks/guard_overhead.py [--quick]

The guard's work per call: routing, the input-contract check, timing, building the
inference event, the seven default detectors, and (every 256 calls) a write of the buffered
events to SQLite. The model is the demo's real scikit-learn pipeline; a constant function
is measured too, so the guard's own cost is seen without the model's noise.

Each model is measured twice: with the default guard (`batch` 1: every call is detected
and recorded before it returns) and with `batch` 256 (the call path routes, calls and
keeps a tuple; every 256th call ingests the batch: detection and one SQLite write). The
batched guard's p99.9 and mean show what the batch costs the call that drains it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from ripcord.app import Ripcord
from ripcord.drills import credit
from ripcord.drills.demo import MODEL, prepare
from ripcord.notify import RecordingChannel

BATCH = 256  # the batched guard's batch size: the runtime's own write batch


def timings(call: Callable[[dict[str, Any]], Any], rows: list[dict[str, Any]]) -> np.ndarray:
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        start = time.perf_counter_ns()
        call(row)
        out[i] = (time.perf_counter_ns() - start) / 1000.0
    return out


def measure(
    rc: Ripcord,
    name: str,
    predict: Callable[[dict[str, Any]], Any],
    rows: list[dict[str, Any]],
    batch: int,
) -> dict[str, float]:
    with rc.guard(MODEL, predict=predict, version=name) as guard:
        guard.batch = batch  # `Ripcord.guard` takes no batch size: set it on the guard
        timings(predict, rows[:1000])  # warm both paths
        timings(guard, rows[:1000])
        direct, guarded = timings(predict, rows), timings(guard, rows)
    out = {"direct_p50_us": float(np.percentile(direct, 50))}
    out["guard_p50_us"] = float(np.percentile(guarded, 50))
    for q, key in ((50, "p50"), (99, "p99"), (99.9, "p999")):
        added = np.percentile(guarded, q) - np.percentile(direct, q)
        out[f"added_{key}_us"] = float(added)
    out["added_mean_us"] = float(guarded.mean() - direct.mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 calls instead of 20,000")
    n = 2_000 if parser.parse_args().quick else 20_000
    model = credit.train()
    rows = credit.rows(credit.sample(n, seed=3)[0])
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        rc = Ripcord.open(
            prepare(home / "sop"), home=home, channels={"console": RecordingChannel("console")}
        )
        try:
            results = {
                name if batch == 1 else f"{name} b{batch}": measure(rc, name, predict, rows, batch)
                for batch in (1, BATCH)
                for name, predict in (
                    ("constant", lambda f: (0, 0.9)),
                    ("sklearn", lambda f: model.predict([f])[0]),
                )
            }
        finally:
            rc.close()
    table = Table(title=f"guard overhead, {n} calls (µs per call; + is added; bN: batch N)")
    columns = ("direct p50", "guarded p50", "+p50", "+p99", "+p99.9", "+mean")
    for column in ("model", *columns):
        table.add_column(column, justify="right", no_wrap=True)
    keys = ("direct_p50_us", "guard_p50_us", "added_p50_us", "added_p99_us", "added_p999_us")
    for name, r in results.items():
        table.add_row(name, *(f"{r[k]:.1f}" for k in (*keys, "added_mean_us")))
    Console().print(table)
    constant, batched = results["constant"], results[f"constant b{BATCH}"]
    print(
        json.dumps(
            {
                "calls": n,
                "guard_added_p50_us": round(constant["added_p50_us"], 1),
                "guard_added_p99_us": round(constant["added_p99_us"], 1),
                "guard_added_mean_us": round(constant["added_mean_us"], 1),
                "batched_added_p50_us": round(batched["added_p50_us"], 1),
                "batched_added_p99_us": round(batched["added_p99_us"], 1),
                "batched_added_p999_us": round(batched["added_p999_us"], 1),
                "batched_added_mean_us": round(batched["added_mean_us"], 1),
                "sklearn_direct_p50_us": round(results["sklearn"]["direct_p50_us"], 1),
                "sklearn_added_p50_us": round(results["sklearn"]["added_p50_us"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
