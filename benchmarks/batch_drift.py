"""Batch drift: Ripcord's frozen-reference engine against a plain per-column scipy loop.

    python benchmarks/batch_drift.py [--quick] [--repeat R] [--rounds K] [--peers]

A 100,000-row reference table against current tables of 10k, 100k and 1M rows (`--quick`:
10k and 100k), 20 numeric + 2 categorical columns, seeded. Five numeric columns and one
categorical column of the current table really shift (the truth); the others are drawn
from the reference's distributions. Four numeric columns are tied (counts), four carry 1 %
missing values, and the shifted categorical column gains a category the reference never
saw.

Each tool runs in its own subprocess on the same seeded data, so the peak RSS it reports
(VmHWM) is its own. The two tools' subprocesses alternate `--rounds` times, each timing
`--repeat` runs; the best time counts, and building the data is not timed. The baseline is
what a careful user writes by hand: `ks_2samp` per numeric column (missing values dropped),
`chi2_contingency` on the reference x current table per categorical column, Bonferroni
across the 22 columns. Ripcord runs at the same thresholds (alpha 0.05, Bonferroni) with
its default effect floor; its default Benjamini-Hochberg verdict is shown too. `freeze`
(sorting and counting the reference once) is timed apart: it is paid once per reference,
not per comparison. The last line is one JSON object.

`--peers` also runs Evidently, NannyML and Alibi Detect, each from its own venv made by
`benchmarks/peers.sh` (never a dependency of Ripcord), on the same seeded tables; see
`drift_peers.py`. With `--quick` the peers run at 10k rows only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import drift_peers
import numpy as np
from drift_data import ALPHA, REFERENCE_ROWS, TRUTH, fingerprint, peak_rss_mb, tables
from rich.console import Console
from rich.table import Table

SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out


def scipy_loop(ref: dict[str, np.ndarray], cur: dict[str, np.ndarray]) -> dict[str, Any]:
    from scipy.stats import chi2_contingency, ks_2samp

    p_values, statistics = {}, {}
    for name in ref:
        a, b = ref[name], cur[name]
        if a.dtype.kind == "f":
            result = ks_2samp(a[~np.isnan(a)], b[~np.isnan(b)])
            statistics[name], p_values[name] = float(result.statistic), float(result.pvalue)
        else:
            labels, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
            table = np.vstack(
                [np.bincount(codes[: a.size], minlength=labels.size),
                 np.bincount(codes[a.size :], minlength=labels.size)]
            )  # fmt: skip
            chi2, p, _, _ = chi2_contingency(table)
            statistics[name], p_values[name] = float(chi2), float(p)
    flagged = [n for n, p in p_values.items() if p < ALPHA / len(p_values)]
    return {"p": p_values, "statistic": statistics, "flagged": flagged}


def ripcord_run(
    ref: dict[str, np.ndarray], cur: dict[str, np.ndarray], repeat: int
) -> dict[str, Any]:
    from ripcord.detect.batch import FrozenReference, compare
    from ripcord.detect.multitest import adjust

    freeze_s, frozen = best_of(1, lambda: FrozenReference.freeze(ref))
    one_s, _ = best_of(repeat, lambda: compare(frozen, cur, correction="bonferroni", workers=1))
    seconds, report = best_of(repeat, lambda: compare(frozen, cur, correction="bonferroni"))
    p = [c.p_value for c in report.columns]
    floor = report.min_effect
    default_flags = [  # the default verdict: Benjamini-Hochberg, same floor
        c.column
        for c, q in zip(report.columns, adjust(p, "bh"), strict=True)
        if q < ALPHA and c.effect >= floor.for_kind(c.kind)[1]
    ]
    return {
        "seconds_1thread": one_s,
        "freeze_s": freeze_s,
        "seconds": seconds,
        "p": {c.column: c.p_value for c in report.columns},
        "statistic": {c.column: c.statistic for c in report.columns},
        "flagged": list(report.drifted),
        "flagged_bh": default_flags,
        "workers": min(os.cpu_count() or 1, 8),
    }


def worker(tool: str, rows: int, repeat: int) -> None:
    ref, cur = tables(rows)
    data_mb = peak_rss_mb()
    if tool == "ripcord":
        out = ripcord_run(ref, cur, repeat)
    else:
        seconds, out = best_of(repeat, lambda: scipy_loop(ref, cur))
        out["seconds"] = seconds
    out.update(rss_mb=peak_rss_mb(), data_rss_mb=data_mb)
    out["fingerprint"] = fingerprint(ref, cur)  # after the peak is read; the peers check it
    print(json.dumps(out))


def run_child(tool: str, rows: int, repeat: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", tool, "--rows", str(rows)]
    done = subprocess.run(
        [*command, "--repeat", str(repeat)], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def score(flagged: list[str]) -> str:
    tp = len(set(flagged) & set(TRUTH))
    return f"{tp}/{len(TRUTH)} TP, {len(set(flagged) - set(TRUTH))} FP"


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of several runs of one tool; peak RSS is the largest seen."""
    out = dict(min(runs, key=lambda run: float(run["seconds"])))
    for key in ("seconds_1thread", "freeze_s"):
        if key in out:
            out[key] = min(float(run[key]) for run in runs)
    out["rss_mb"] = max(float(run["rss_mb"]) for run in runs)
    return out


def measure(label: str, rows: int, repeat: int, rounds: int) -> dict[str, Any]:
    """Alternate the two tools `rounds` times, so a busy machine slows both alike."""
    runs: dict[str, list[dict[str, Any]]] = {"ripcord": [], "scipy": []}
    for _ in range(rounds):
        for tool, done in runs.items():
            done.append(run_child(tool, rows, repeat))
    rc, sp = best(runs["ripcord"]), best(runs["scipy"])
    p_gap = max(abs(rc["p"][k] - sp["p"][k]) for k in sp["p"])
    d_gap = max(abs(rc["statistic"][k] - sp["statistic"][k]) for k in sp["statistic"])
    return {
        "label": label,
        "rows": rows,
        "rc": rc,
        "sp": sp,
        "same": sorted(rc["flagged"]) == sorted(sp["flagged"]),
        "p_gap": p_gap,
        "stat_gap": d_gap,
    }


def render(results: list[dict[str, Any]]) -> None:
    table = Table(title=f"Batch drift: {REFERENCE_ROWS:,}-row reference vs N rows, 22 columns")
    for column in ("N", "Ripcord s", "1 thread s", "scipy loop s", "speed-up", "1-thread x",
                   "peak RSS MB Ripcord / scipy (data)", "flags same", "Ripcord (Bonf.)",
                   "Ripcord (BH)", "scipy (Bonf.)", "max |p gap|"):  # fmt: skip
        table.add_column(column, justify="right")
    for r in results:
        rc, sp = r["rc"], r["sp"]
        table.add_row(
            f"{r['rows']:,}",
            f"{rc['seconds']:.3f}",
            f"{rc['seconds_1thread']:.3f}",
            f"{sp['seconds']:.3f}",
            f"{sp['seconds'] / rc['seconds']:.1f}x",
            f"{sp['seconds'] / rc['seconds_1thread']:.1f}x",
            f"{rc['rss_mb']:.0f} / {sp['rss_mb']:.0f} ({sp['data_rss_mb']:.0f})",
            "yes" if r["same"] else "NO",
            score(rc["flagged"]),
            score(rc["flagged_bh"]),
            score(sp["flagged"]),
            f"{r['p_gap']:.1e}",
        )
    console = Console(width=200)
    console.print(table)
    rc = results[-1]["rc"]
    console.print(
        f"freeze (once per reference): {rc['freeze_s']:.3f} s; threads: {rc['workers']}; "
        f"truth: {', '.join(TRUTH)}; Ripcord flagged: {', '.join(rc['flagged'])}"
    )
    drift_peers.render(results, console)


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in results:
        rc, sp, key = r["rc"], r["sp"], r["label"]
        out[f"ripcord_s_{key}"] = round(rc["seconds"], 4)
        out[f"ripcord_1thread_s_{key}"] = round(rc["seconds_1thread"], 4)
        out[f"scipy_s_{key}"] = round(sp["seconds"], 4)
        out[f"speedup_vs_scipy_{key}"] = round(sp["seconds"] / rc["seconds"], 2)
        out[f"speedup_1thread_vs_scipy_{key}"] = round(sp["seconds"] / rc["seconds_1thread"], 2)
        out[f"ripcord_rss_mb_{key}"] = round(rc["rss_mb"], 1)
        out[f"scipy_rss_mb_{key}"] = round(sp["rss_mb"], 1)
        out[f"max_p_gap_{key}"] = r["p_gap"]
    last = results[-1]
    out.update(
        rows=last["rows"],
        ripcord_s=out[f"ripcord_s_{last['label']}"],
        scipy_s=out[f"scipy_s_{last['label']}"],
        speedup_vs_scipy=out[f"speedup_vs_scipy_{last['label']}"],
        rss_mb=out[f"ripcord_rss_mb_{last['label']}"],
        ripcord_freeze_s=round(last["rc"]["freeze_s"], 4),
        flagged_same_as_scipy=all(r["same"] for r in results),
        same_flags_as_scipy=all(r["same"] for r in results),
        true_positives=len(set(last["rc"]["flagged"]) & set(TRUTH)),
        false_positives=len(set(last["rc"]["flagged"]) - set(TRUTH)),
    )
    out.update(drift_peers.summary(results))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k and 100k rows only")
    parser.add_argument("--repeat", type=int, default=3, help="runs per subprocess")
    parser.add_argument("--rounds", type=int, help="subprocesses per tool (default 2, quick 1)")
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also run the peers installed by benchmarks/peers.sh (with --quick: at 10k only)",
    )
    parser.add_argument("--worker", choices=("ripcord", "scipy"), help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.rows, args.repeat)
        return
    sizes = {k: v for k, v in SIZES.items() if not (args.quick and v > 100_000)}
    rounds = args.rounds or (1 if args.quick else 2)
    peers = drift_peers.installed() if args.peers else []
    if args.peers and not peers:
        print("--peers: no peer venv under benchmarks/.venvs/ (run benchmarks/peers.sh)")
    results = []
    for label, rows in sizes.items():
        results.append(measure(label, rows, args.repeat, rounds))
        if peers and not (args.quick and rows > 10_000):
            drift_peers.attach(results[-1], peers)
    render(results)
    print(json.dumps(summary(results)))


if __name__ == "__main__":
    main()
