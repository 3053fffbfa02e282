"""NannyML's UnivariateDriftCalculator, in NannyML's venv (benchmarks/peers.sh).

Its defaults (Jensen-Shannon distance for both column kinds, a threshold of the
reference chunks' mean + 3 standard deviations) but chunks of 10,000 rows rather than
its default ten chunks of whatever size: the threshold is learnt on the reference's
chunks, so the current data must be cut in chunks of the same size for it to mean
anything (ten chunks of 1,000 rows at N = 10k alert on every column), and one chunk
(`chunk_number=1`) would leave a zero deviation and a degenerate threshold. The
reference makes ten chunks; the current data N / 10,000 (one at 10k, a hundred at 1M).
A column counts as flagged when any of its current chunks alerts, as NannyML's alerts
read; how many of its chunks alerted is reported too (`alert_share`). Timed: `fit` on
the reference (reported apart as `fit_s`) and `calculate` on the current data.
"""

from __future__ import annotations

import os
import time
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # NannyML's telemetry opt-out

import common
import nannyml as nml
import pandas as pd
from drift_data import CATEGORICAL, NUMERIC

CHUNK_ROWS = 10_000


def prepare(ref: common.Tables, cur: common.Tables) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.DataFrame(ref), pd.DataFrame(cur)


def detect(frames: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[Any, float]:
    start = time.perf_counter()
    calculator = nml.UnivariateDriftCalculator(
        column_names=list(NUMERIC + CATEGORICAL),
        treat_as_categorical=list(CATEGORICAL),
        chunk_size=CHUNK_ROWS,
    ).fit(frames[0])
    fit_s = time.perf_counter() - start
    return calculator.calculate(frames[1]), fit_s


def read(raw: tuple[Any, float]) -> dict[str, Any]:
    result, fit_s = raw
    table = result.filter(period="analysis").to_df()
    share = {
        column: float(table[(column, "jensen_shannon", "alert")].astype(bool).mean())
        for column in NUMERIC + CATEGORICAL
    }
    return {
        "flagged": [column for column, s in share.items() if s > 0],
        "flagged_majority": [column for column, s in share.items() if s > 0.5],
        "alert_share": share,
        "chunks": len(table),
        "fit_s": fit_s,
    }


if __name__ == "__main__":
    common.run("nannyml", nml.__version__, prepare, detect, read)
