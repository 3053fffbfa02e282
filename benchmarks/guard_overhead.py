"""Added latency of the in-process guard, against calling the model directly in the same run.

    python benchmarks/guard_overhead.py [--quick]

The guard's work per call: routing, the input-contract check, timing, building the
inference event, the seven default detectors, and (every 256 calls) a write of the buffered
events to SQLite. The model is the demo's real scikit-learn pipeline; a constant function
is measured too, so the guard's own cost is seen without the model's noise.
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


def timings(call: Callable[[dict[str, Any]], Any], rows: list[dict[str, Any]]) -> np.ndarray:
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        start = time.perf_counter_ns()
        call(row)
        out[i] = (time.perf_counter_ns() - start) / 1000.0
    return out


def measure(
    rc: Ripcord, name: str, predict: Callable[[dict[str, Any]], Any], rows: list[dict[str, Any]]
) -> dict[str, float]:
    guard = rc.guard(MODEL, predict=predict, version=name)
    timings(predict, rows[:200])  # warm both paths
    timings(guard, rows[:200])
    direct, guarded = timings(predict, rows), timings(guard, rows)
    p50 = float(np.percentile(guarded, 50) - np.percentile(direct, 50))
    p99 = float(np.percentile(guarded, 99) - np.percentile(direct, 99))
    return {
        "direct_p50_us": float(np.percentile(direct, 50)),
        "guard_p50_us": float(np.percentile(guarded, 50)),
        "added_p50_us": p50,
        "added_p99_us": p99,
    }


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
                "constant": measure(rc, "constant", lambda f: (0, 0.9), rows),
                "sklearn": measure(rc, "sklearn", lambda f: model.predict([f])[0], rows),
            }
        finally:
            rc.close()
    table = Table(title=f"guard overhead, {n} calls (µs per call)")
    for column in ("model", "direct p50", "guarded p50", "added p50", "added p99"):
        table.add_column(column, justify="right")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['direct_p50_us']:.1f}",
            f"{r['guard_p50_us']:.1f}",
            f"{r['added_p50_us']:.1f}",
            f"{r['added_p99_us']:.1f}",
        )
    Console().print(table)
    print(
        json.dumps(
            {
                "calls": n,
                "guard_added_p50_us": round(results["constant"]["added_p50_us"], 1),
                "guard_added_p99_us": round(results["constant"]["added_p99_us"], 1),
                "sklearn_direct_p50_us": round(results["sklearn"]["direct_p50_us"], 1),
                "sklearn_added_p50_us": round(results["sklearn"]["added_p50_us"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
