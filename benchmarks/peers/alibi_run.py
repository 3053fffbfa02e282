"""Alibi Detect's TabularDrift, Bonferroni at p 0.05, in its own venv (benchmarks/peers.sh).

TabularDrift takes one numeric array: the two categorical columns are given as integer
codes (declared in `categories_per_feature`, so they get chi-square tests; the numeric
ones get `ks_2samp`). It has no notion of a missing value: a column with NaNs gets a
NaN p-value and is never flagged, so the rows holding any missing value (about 4 %) are
dropped from both tables first, as a user of it must. Building the array is not timed;
the detector's construction on the reference and `predict` are. A column counts as
flagged when its p-value is under the Bonferroni threshold Alibi reports (0.05 / 22).
"""

from __future__ import annotations

import time
from typing import Any

import alibi_detect
import common
import numpy as np
from alibi_detect.cd import TabularDrift
from drift_data import ALPHA, CATEGORICAL, NUMERIC

COLUMNS = NUMERIC + CATEGORICAL


def prepare(ref: common.Tables, cur: common.Tables) -> tuple[np.ndarray, np.ndarray, int]:
    def array(table: common.Tables) -> np.ndarray:
        numeric = [table[name] for name in NUMERIC]
        codes = [
            np.searchsorted(labels[name], table[name]).astype(np.float64) for name in CATEGORICAL
        ]
        return np.column_stack(numeric + codes)

    labels = {name: np.unique(np.concatenate([ref[name], cur[name]])) for name in CATEGORICAL}
    x_ref, x = array(ref), array(cur)
    keep_ref, keep = ~np.isnan(x_ref).any(axis=1), ~np.isnan(x).any(axis=1)
    dropped = int((~keep_ref).sum() + (~keep).sum())
    return np.ascontiguousarray(x_ref[keep_ref]), np.ascontiguousarray(x[keep]), dropped


def detect(inputs: tuple[np.ndarray, np.ndarray, int]) -> tuple[dict[str, Any], float, int]:
    x_ref, x, dropped = inputs
    start = time.perf_counter()
    categorical = {COLUMNS.index(name): None for name in CATEGORICAL}
    detector = TabularDrift(
        x_ref, p_val=ALPHA, categories_per_feature=categorical, correction="bonferroni"
    )
    fit_s = time.perf_counter() - start
    return detector.predict(x, drift_type="batch", return_p_val=True), fit_s, dropped


def read(raw: tuple[dict[str, Any], float, int]) -> dict[str, Any]:
    prediction, fit_s, dropped = raw
    data = prediction["data"]
    p_values = {name: float(p) for name, p in zip(COLUMNS, data["p_val"], strict=True)}
    return {
        "flagged": [name for name, p in p_values.items() if p < data["threshold"]],
        "threshold": float(data["threshold"]),
        "p": p_values,
        "rows_dropped_for_missing": dropped,
        "fit_s": fit_s,
    }


if __name__ == "__main__":
    common.run("alibi", alibi_detect.__version__, prepare, detect, read)
