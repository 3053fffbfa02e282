"""How fast any detector can see a 0.5 SD shift at a given false-alarm rate: the frontier.

    python benchmarks/delay_frontier.py [--quick] [--streams N] [--seed S]

`stream_delay.py` asks for a median delay of at most 60 values with no false alarm before
the change in at least 19 of 20 streams (20,000 N(0, 1) values, then N(0.5, 1)). This
script measures what the two optimal procedures for a known mean shift reach on that
task, given everything a real detector has to estimate (the in-control mean and SD, and
the shift's size and sign, so they watch one side only):

- CUSUM (Page 1954), k = 0.25: minimises the worst-case mean delay for a given average
  run length to a false alarm (Lorden 1971, Moustakides 1986);
- Shiryaev-Roberts, R = (1 + R) · LR: minimises the mean delay for a change far from the
  start, the regime of this task (Pollak 1985; Polunchenko & Tartakovsky 2010).

Both run vectorised over `--streams` simulated streams (4,000; `--quick` 1,000) for a
grid of thresholds. For each threshold: the share p of streams with a false alarm in the
20,000 in-control values (the statistic restarts after one, as the benchmark resets its
detectors), the probability that a run of 20 streams has at most one of them,
(1 - p)^20 + 20 p (1 - p)^19, and the median delay after the change. The last line's
JSON gives, per procedure, the lowest median delay at a threshold where a 20-stream run
passes the false-alarm half of the goal with probability at least 1/2 and at least 0.95.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

CHANGE = 20_000
AFTER = 1_000  # values read after the change; a miss past it is counted as such
SHIFT = 0.5
K = SHIFT / 2  # CUSUM's allowance k; the log-likelihood ratio is SHIFT · (x - K)
RUN = 20  # streams per benchmark run
CHUNK = 250  # values drawn per step of the simulation loop
GRIDS = {
    "cusum": (17.0, 18.0, 19.0, 19.5, 20.0, 21.0, 22.0, 23.0, 24.0),  # threshold on S
    "shiryaev_roberts": (11.0, 11.5, 12.0, 12.25, 12.5, 13.0, 13.5, 14.0),  # threshold on log R
}
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Point:
    procedure: str
    threshold: float
    false_alarm_share: float
    median_delay: float
    p95_delay: float
    missed: int

    @property
    def pass_probability(self) -> float:
        """P(at most one of 20 streams raises a false alarm)."""
        p = self.false_alarm_share
        return float((1 - p) ** RUN + RUN * p * (1 - p) ** (RUN - 1))


def step(procedure: str, state: FloatArray, x: FloatArray) -> FloatArray:
    if procedure == "cusum":  # in the values' units, as the benchmark's oracle: S += x - k
        return np.maximum(0.0, state + x - K)
    return np.logaddexp(0.0, state) + SHIFT * (x - K)  # log R (R overflows) += the LLR


def simulate(procedure: str, streams: int, seed: int, progress: Progress) -> list[Point]:
    rng = np.random.default_rng(seed)
    thresholds = np.asarray(GRIDS[procedure])[:, None]
    start = 0.0 if procedure == "cusum" else -np.inf  # S = 0, R = 0
    state = np.full((thresholds.size, streams), start)
    alarmed = np.zeros(state.shape, dtype=bool)
    delay = np.full(state.shape, -1)
    task = progress.add_task(procedure, total=CHANGE + AFTER)
    for first in range(0, CHANGE + AFTER, CHUNK):
        values = (
            rng.normal(0.0, 1.0, (CHUNK, streams))
            + SHIFT * (np.arange(first, first + CHUNK) >= CHANGE)[:, None]
        )
        for offset, x in enumerate(values):
            t = first + offset
            state = step(procedure, state, x)
            hit = state > thresholds
            if t < CHANGE:
                alarmed |= hit
                state[hit] = start
            else:
                fresh = hit & (delay < 0)
                delay[fresh] = t - CHANGE + 1
        progress.advance(task, CHUNK)
    return [
        points(procedure, float(h), alarmed[i], delay[i]) for i, h in enumerate(GRIDS[procedure])
    ]


def points(procedure: str, threshold: float, alarmed: Any, delay: Any) -> Point:
    seen = delay[delay > 0]
    return Point(
        procedure,
        threshold,
        float(alarmed.mean()),
        float(np.median(seen)),
        float(np.percentile(seen, 95)),
        int((delay < 0).sum()),
    )


def best(points: list[Point], probability: float) -> float | None:
    passing = [p.median_delay for p in points if p.pass_probability >= probability]
    return min(passing) if passing else None


def table(all_points: list[Point], streams: int) -> Table:
    out = Table(
        title=f"Optimal one-sided procedures that know the shift, {streams:,} streams",
        caption="pass: probability that at most 1 of 20 streams raises a false alarm",
    )
    for column in (
        "procedure",
        "threshold",
        "streams with a false alarm",
        "pass",
        "median delay",
        "p95 delay",
    ):
        out.add_column(column, justify="left" if column == "procedure" else "right")
    for p in all_points:
        out.add_row(
            p.procedure,
            f"{p.threshold:g}",
            f"{100 * p.false_alarm_share:.1f} %",
            f"{p.pass_probability:.2f}",
            f"{p.median_delay:g}" + (f" ({p.missed} missed)" if p.missed else ""),
            f"{p.p95_delay:g}",
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 streams instead of 4,000")
    parser.add_argument("--streams", type=int, default=None)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    streams = args.streams or (1_000 if args.quick else 4_000)
    console = Console(width=max(Console().width, 100))
    with Progress(console=console, transient=True) as progress:
        found = {name: simulate(name, streams, args.seed, progress) for name in GRIDS}
    console.print(table([p for ps in found.values() for p in ps], streams))
    figures: dict[str, Any] = {"streams": streams, "goal_median_delay": 60}
    for name, ps in found.items():
        figures[f"{name}_median_delay_pass_half"] = best(ps, 0.5)
        figures[f"{name}_median_delay_pass_95"] = best(ps, 0.95)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
