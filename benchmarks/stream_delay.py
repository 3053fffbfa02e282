"""Detection delay and false alarms of streaming change detectors on a 0.5 SD mean shift.

    python benchmarks/stream_delay.py [--quick] [--seeds N] [--jobs N] [--no-river] [--h H]

Each seed's stream is 20,000 N(0, 1) values then 20,000 N(0.5, 1) values, and every
detector reads the same streams in the same run: Ripcord's `cusum` and `page_hinkley` at
their defaults (fed through `update(value)`, the fast path their `observe` calls), River's
ADWIN, PageHinkley and KSWIN at their defaults (KSWIN is given the stream's seed, so runs
repeat), and a reference no real detector can match: a one-sided CUSUM that knows the
in-control mean and SD and the shift's size and sign (k = 0.25, h = 20).

- delay: shifted values read up to and including the one that raised the alarm (first
  alarm after the change); a seed with no alarm after the change counts as missed;
- false alarms: alarms before the change. Ripcord's detectors latch, so after each one the
  benchmark calls `reset()`, which also restarts the 500-value warm-up; River's reset
  themselves.

River is optional (`pip install 'river>=0.26,<0.27'`, the `bench` extra); without it the
River rows are skipped, and the output says so. `--quick` runs 5 seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from ripcord.detect.changepoint import ChangePointDetector, CusumDetector, PageHinkleyDetector

CHANGE = 20_000
LENGTH = 40_000
SHIFT = 0.5
ORACLE_H = 20.0

#: a detector under test: feed one value, get True when it raised an alarm on it
Step = Callable[[float], bool]


def river_installed() -> bool:
    try:
        import river  # noqa: F401
    except ImportError:
        return False
    return True


def ripcord_step(cls: type[ChangePointDetector], h: float | None) -> Step:
    detector = cls(name=cls.family, window=1, threshold=cls.default_h if h is None else h)

    def step(value: float) -> bool:
        if not detector.update(value):
            return False
        detector.reset()  # latched until reset: count the alarm and start afresh
        return True

    return step


def oracle_step() -> Step:
    """One-sided CUSUM with everything known: the floor for any detector here."""
    state = [0.0]

    def step(value: float) -> bool:
        state[0] = max(0.0, state[0] + value - SHIFT / 2)
        if state[0] > ORACLE_H:
            state[0] = 0.0
            return True
        return False

    return step


def river_step(name: str, seed: int) -> Step:
    from river import drift

    makers: dict[str, Callable[[], Any]] = {
        "ADWIN": drift.ADWIN,
        "PageHinkley": drift.PageHinkley,
        "KSWIN": lambda: drift.KSWIN(seed=seed),
    }
    detector = makers[name]()

    def step(value: float) -> bool:
        detector.update(value)
        return bool(detector.drift_detected)

    return step


RIPCORD = ("cusum", "page_hinkley", "oracle")
RIVER = ("river_kswin", "river_adwin", "river_pagehinkley")  # the slowest first


def make_step(name: str, seed: int, h: float | None = None) -> Step:
    if name == "oracle":
        return oracle_step()
    if name in RIVER:
        return river_step(
            {"river_adwin": "ADWIN", "river_kswin": "KSWIN"}.get(name, "PageHinkley"), seed
        )
    return ripcord_step({"cusum": CusumDetector, "page_hinkley": PageHinkleyDetector}[name], h)


@dataclass
class Outcome:
    false_alarms: int
    delay: int | None  # None: no alarm after the change
    seconds: float
    values: int


def run_one(step: Step, values: list[float]) -> Outcome:
    """Feed values until the first alarm after the change (or the end)."""
    false_alarms, start = 0, time.perf_counter()
    for i, value in enumerate(values):
        if step(value):
            if i >= CHANGE:
                return Outcome(false_alarms, i - CHANGE + 1, time.perf_counter() - start, i + 1)
            false_alarms += 1
    return Outcome(false_alarms, None, time.perf_counter() - start, len(values))


def stream(seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.normal(0, 1, CHANGE), rng.normal(SHIFT, 1, LENGTH - CHANGE)])
    return list(values.tolist())


def run_job(job: tuple[str, int, float | None]) -> tuple[str, Outcome]:
    """One detector on one seed's stream (jobs are this small so the slow ones spread)."""
    name, seed, h = job
    return name, run_one(make_step(name, seed, h), stream(seed))


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def delays(self) -> list[int]:
        return [o.delay for o in self.outcomes if o.delay is not None]

    def figures(self) -> dict[str, Any]:
        delays, alarms = self.delays, [o.false_alarms for o in self.outcomes]
        return {
            "median_delay": statistics.median(delays) if delays else None,
            "worst_delay": max(delays) if delays else None,
            "p95_delay": float(np.percentile(delays, 95)) if delays else None,
            "missed": len(self.outcomes) - len(delays),
            "false_alarms_per_seed": statistics.fmean(alarms),
            "most_false_alarms": max(alarms),
            "clean_seeds": sum(a == 0 for a in alarms),
            "us_per_value": 1e6
            * sum(o.seconds for o in self.outcomes)
            / sum(o.values for o in self.outcomes),
        }


def summarise(results: list[tuple[str, Outcome]]) -> dict[str, dict[str, Any]]:
    summaries: dict[str, Summary] = {}
    for name, outcome in results:
        summaries.setdefault(name, Summary()).outcomes.append(outcome)
    return {name: s.figures() for name, s in summaries.items()}


LABELS = {
    "cusum": "Ripcord cusum",
    "page_hinkley": "Ripcord page_hinkley",
    "river_adwin": "River ADWIN",
    "river_pagehinkley": "River PageHinkley",
    "river_kswin": "River KSWIN",
    "oracle": "oracle CUSUM *",
}


def table(figures: dict[str, dict[str, Any]], seeds: int) -> Table:
    out = Table(
        title=f"0.5 SD shift after {CHANGE:,} N(0, 1) values, {seeds} seeds",
        caption="delays in values after the change; * knows the mean, SD, shift size and sign",
    )
    columns: tuple[str, ...] = (
        "detector",
        "median delay",
        "worst delay",
        "missed",
        "false alarms/seed",
    )
    columns += ("clean seeds", "µs/value")
    for column in columns:
        out.add_column(column, justify="left" if column == "detector" else "right")
    for name, label in LABELS.items():
        if name not in figures:
            continue
        f = figures[name]
        out.add_row(
            label,
            "-" if f["median_delay"] is None else f"{f['median_delay']:g}",
            "-" if f["worst_delay"] is None else str(f["worst_delay"]),
            str(f["missed"]),
            f"{f['false_alarms_per_seed']:.2f} (max {f['most_false_alarms']})",
            f"{f['clean_seeds']}/{seeds}",
            f"{f['us_per_value']:.1f}",
        )
    return out


def flat(
    figures: dict[str, dict[str, Any]], seeds: int, river: bool, h: float | None
) -> dict[str, Any]:
    """The JSON line: `<detector>_<figure>` for every detector, plus the issue's top-level
    keys for Ripcord's recommended detector (page_hinkley)."""
    out: dict[str, Any] = {"seeds": seeds, "change_at": CHANGE, "shift_sd": SHIFT}
    out["river_installed"] = river
    out["cusum_h"] = CusumDetector.default_h if h is None else h
    out["page_hinkley_h"] = PageHinkleyDetector.default_h if h is None else h
    best = figures["page_hinkley"]
    out["ripcord_detector"] = "page_hinkley"
    out["median_delay"] = best["median_delay"]
    out["worst_delay"] = best["worst_delay"]
    out["seeds_without_false_alarm"] = best["clean_seeds"]
    for name, f in figures.items():
        key = name.removeprefix("river_")
        for figure, value in f.items():
            out[f"{key}_{figure}"] = round(value, 3) if isinstance(value, float) else value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 seeds instead of 20")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 20)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes")
    parser.add_argument("--no-river", action="store_true", help="Ripcord only (many seeds)")
    parser.add_argument("--h", type=float, default=None, help="Ripcord's h (default: each's)")
    args = parser.parse_args()
    seeds = args.seeds or (5 if args.quick else 20)
    console = Console(width=max(Console().width, 110))
    river = not args.no_river and river_installed()
    if not river and not args.no_river:
        console.print(
            "[bold yellow]River is not installed[/]: its rows are skipped. Install the peer "
            "with: pip install 'river>=0.26,<0.27'"
        )
    names = (RIVER if river else ()) + RIPCORD
    jobs = [(name, seed, args.h) for name in names for seed in range(seeds)]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(run_job, jobs))
    figures = summarise(results)
    console.print(table(figures, seeds))
    print(json.dumps(flat(figures, seeds, river, args.h)))


if __name__ == "__main__":
    main()
