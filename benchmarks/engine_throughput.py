"""Throughput of the live engine: events/s through the default detector set, 20 features.

    python benchmarks/engine_throughput.py [--quick] [--events N] [--batch N]

One model with 20 numeric features and the default detector set, windows as in the demo
SOP (`credit-risk.sop.yaml`): confidence 100, accuracy 200, error_rate 200, latency 200,
contract 200, prediction_drift 300, feature_drift 300 (PSI, 10 bins), reference 500. The
engine checks every `--check-every` events (default 10, the engine's default) in both
paths; a check reads every detector, and feature drift re-bins 300 x 20 values, so the
cadence, not the feeding, sets the throughput (`--check-every 500`: once per batch).

Events: a pool of 50,000 seeded `InferenceEvent`s is built once and cycled, each reuse a
copy with a new request id (the accuracy detector keys its pending map on it). Copies are
made between batches, outside the timer: event construction is the SDK's or API's cost,
not the engine's. No labels are fed (label joins are their own path, `observe_label`).

- batched: `engine.observe_batch` on micro-batches of `--batch` (500) events, the way the
  SDK and API deliver them; the figure is events / engine seconds over the whole run.
- per event: `engine.observe` on each event of the same stream, on a fresh engine, over
  the first min(N, 50,000) events: the baseline, measured in the same run, and compared
  (`speedup_vs_per_event`) with the batched path's time on those same events.
- memory: VmRSS from /proc/self/status, sampled every 100,000 events; growth is the
  largest sample minus the one taken after the first 100,000 events (by then the reference
  has frozen and every window is full, so all later growth would be a leak).

`--quick` runs 200,000 events (under a minute); the full run is 5,000,000.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
from rich.console import Console
from rich.table import Table

from ripcord.detect import default_registry
from ripcord.detect.engine import DetectionEngine
from ripcord.events import InferenceEvent
from ripcord.sop.schema import DetectorSpec, ModelSop, Slas, Sop

FEATURES = 20
POOL = 50_000
SAMPLE_EVERY = 100_000
BASELINE_MAX = 50_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_sop() -> Sop:
    detectors = (
        DetectorSpec(type="confidence", window=100),
        DetectorSpec(type="accuracy", window=200),
        DetectorSpec(type="error_rate", window=200),
        DetectorSpec(type="latency", window=200),
        DetectorSpec(type="contract", window=200, threshold=0.05),
        DetectorSpec(type="prediction_drift", window=300, threshold=0.2),
        DetectorSpec(type="feature_drift", window=300, threshold=0.25),
    )
    slas = Slas(min_accuracy=0.8, min_mean_confidence=0.78, p95_latency_ms=50, max_error_rate=0.02)
    model = ModelSop(owner="ml", slas=slas, reference_size=500, detectors=detectors)
    return Sop(models={"credit-risk": model})


def make_pool(seed: int = 0) -> list[InferenceEvent]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (POOL, FEATURES))
    confidence = rng.beta(9, 2, POOL)
    latency = rng.lognormal(np.log(20.0), 0.3, POOL)
    error = rng.random(POOL) < 0.002
    broken = rng.random(POOL) < 0.002
    return [
        InferenceEvent(
            model="credit-risk",
            version="1",
            request_id=f"r{i}",
            timestamp=T0 + timedelta(milliseconds=i),
            features={f"f{j}": float(x[i, j]) for j in range(FEATURES)},
            prediction=int(x[i, 0] > 0.5),
            confidence=float(confidence[i]),
            latency_ms=float(latency[i]),
            error="TimeoutError: upstream" if error[i] else None,
            violations=("income_k: -5 is not >= 0",) if broken[i] else (),
        )
        for i in range(POOL)
    ]


def batches(
    pool: Sequence[InferenceEvent], total: int, size: int
) -> Iterator[list[InferenceEvent]]:
    """`total` events in batches of `size`; the pool's first pass as is, then fresh-id copies."""
    for start in range(0, total, size):
        yield [
            pool[k]
            if k < len(pool)
            else pool[k % len(pool)].model_copy(update={"request_id": f"r{k}"})
            for k in range(start, min(start + size, total))
        ]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS missing from /proc/self/status")


def run_batched(
    pool: Sequence[InferenceEvent], total: int, size: int, check_every: int
) -> dict[str, float]:
    engine = DetectionEngine(make_sop(), default_registry(), check_every=check_every)
    seconds, seen, signals, samples = 0.0, 0, 0, []
    head = (total, 0.0)
    for batch in batches(pool, total, size):
        start = time.perf_counter()
        signals += len(engine.observe_batch(batch))
        seconds += time.perf_counter() - start
        before, seen = seen, seen + len(batch)
        if before < BASELINE_MAX <= seen:
            head = (seen, seconds)  # the stretch the per-event baseline also reads
        if seen // SAMPLE_EVERY > before // SAMPLE_EVERY:
            samples.append(rss_mb())
    base = samples[0] if samples else rss_mb()
    return {
        "events": total,
        "seconds": seconds,
        "events_per_s": total / seconds,
        "head_events_per_s": head[0] / head[1] if head[1] else total / seconds,
        "signals": signals,
        "rss_start_mb": base,
        "rss_end_mb": samples[-1] if samples else base,
        "rss_growth_mb": max(samples, default=base) - base,
    }


def run_per_event(pool: Sequence[InferenceEvent], total: int, check_every: int) -> dict[str, float]:
    engine = DetectionEngine(make_sop(), default_registry(), check_every=check_every)
    seconds, signals = 0.0, 0
    for batch in batches(pool, total, 10_000):
        start = time.perf_counter()
        for event in batch:
            signals += len(engine.observe(event))
        seconds += time.perf_counter() - start
    return {
        "events": total,
        "seconds": seconds,
        "events_per_s": total / seconds,
        "signals": signals,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200,000 events (under a minute)")
    parser.add_argument("--events", type=int, help="events to feed (default 5,000,000)")
    parser.add_argument("--batch", type=int, default=500, help="micro-batch size (500)")
    parser.add_argument(
        "--check-every", type=int, default=10, help="events between checks (engine default 10)"
    )
    args = parser.parse_args()
    total = args.events or (200_000 if args.quick else 5_000_000)
    pool = make_pool()
    baseline = run_per_event(pool, min(total, BASELINE_MAX), args.check_every)
    batched = run_batched(pool, total, args.batch, args.check_every)

    table = Table(
        title=f"Live engine, 20 features, default detectors, check every {args.check_every}"
    )
    for column in ("path", "events", "engine s", "events/s", "signals", "RSS growth MB"):
        table.add_column(column, justify="right" if column != "path" else "left")
    table.add_row(
        "per event (observe)", f"{baseline['events']:,}", f"{baseline['seconds']:.1f}",
        f"{baseline['events_per_s']:,.0f}", f"{baseline['signals']}", "-",
    )  # fmt: skip
    table.add_row(
        f"batches of {args.batch} (observe_batch)", f"{batched['events']:,}",
        f"{batched['seconds']:.1f}", f"{batched['events_per_s']:,.0f}",
        f"{batched['signals']}", f"{batched['rss_growth_mb']:.1f}",
    )  # fmt: skip
    console = Console()
    console.print(table)
    speedup = batched["head_events_per_s"] / baseline["events_per_s"]
    console.print(
        f"batched / per event on the same first {baseline['events']:,} events: "
        f"{batched['head_events_per_s']:,.0f} / {baseline['events_per_s']:,.0f} = {speedup:.2f}x; "
        f"RSS {batched['rss_start_mb']:.0f} MB after "
        f"{SAMPLE_EVERY:,} events, {batched['rss_end_mb']:.0f} MB at the end"
    )
    figures = {
        "events": total,
        "batch_size": args.batch,
        "check_every": args.check_every,
        "events_per_s": round(batched["events_per_s"]),
        "per_event_events_per_s": round(baseline["events_per_s"]),
        "speedup_vs_per_event": round(speedup, 2),
        "rss_growth_mb": round(batched["rss_growth_mb"], 1),
        "rss_mb": round(batched["rss_end_mb"], 1),
        "signals": batched["signals"],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
