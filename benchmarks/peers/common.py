"""What every peer runner shares: the seeded tables, the clock and the peak-RSS reading.

A runner runs under its peer's own venv (benchmarks/peers.sh), so it imports nothing of
Ripcord's and nothing but numpy from the benchmark: `drift_data` builds the same columns
as the parent's workers, and its fingerprint lets the parent check that.

`prepare` turns the tables into what the tool takes (a DataFrame, an array) and is not
timed; the column dict is dropped afterwards and the peak-RSS mark reset, so the reported
peak is that of the comparison itself, with its inputs resident. `detect` is timed whole,
fitting the reference included (it may say how long that part took as `fit_s` in what it
returns); `read` then takes the flagged columns out of the tool's result, untimed.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from drift_data import fingerprint, peak_rss_mb, tables

Tables = dict[str, np.ndarray]


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run(
    tool: str,
    version: str,
    prepare: Callable[[Tables, Tables], Any],
    detect: Callable[[Any], Any],
    read: Callable[[Any], dict[str, Any]],
) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, required=True)
    args = parser.parse_args()
    ref, cur = tables(args.rows)
    data_fingerprint = fingerprint(ref, cur)
    inputs = prepare(ref, cur)
    del ref, cur
    gc.collect()
    was_reset = reset_peak_rss()
    data_mb = current_rss_mb() if was_reset else peak_rss_mb()
    start = time.perf_counter()
    raw = detect(inputs)
    seconds = time.perf_counter() - start
    rss_mb = peak_rss_mb()
    out = read(raw)
    out.update(
        tool=tool,
        version=version,
        seconds=seconds,
        rss_mb=rss_mb,
        data_rss_mb=data_mb,
        peak_reset=was_reset,
        fingerprint=data_fingerprint,
    )
    out.setdefault("fit_s", None)
    print(json.dumps(out))
