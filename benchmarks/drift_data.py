"""The batch drift benchmark's seeded tables, shared by `batch_drift.py` and the peer runners.

Only numpy is imported, so each peer's own venv (benchmarks/peers.sh) can build exactly
the same columns; `fingerprint` lets the parent check that they did.
"""

from __future__ import annotations

import hashlib

import numpy as np

REFERENCE_ROWS = 100_000
ALPHA = 0.05
TRUTH = ("x00", "x01", "x02", "x03", "x04", "c1")
NUMERIC = tuple(f"x{i:02d}" for i in range(20))
CATEGORICAL = ("c0", "c1")
CATEGORIES = np.array(["bronze", "silver", "gold", "platinum", "basic", "plus", "pro", "max"])
NEW_CATEGORY = "diamond"


def _numeric(i: int, rng: np.random.Generator, rows: int, shifted: bool) -> np.ndarray:
    """Column x{i:02d}: five distribution shapes; x00-x04 move when `shifted`."""
    move = shifted and i < 5
    shape = i % 5
    if shape == 0:  # normal; x00: mean +0.5 SD
        x = rng.normal(0.5 if move else 0.0, 1.0, rows)
    elif shape == 1:  # normal; x01: SD x 1.6
        x = rng.normal(0.0, 1.6 if move else 1.0, rows)
    elif shape == 2:  # lognormal (skewed); x02: sigma 0.5 -> 0.8
        x = rng.lognormal(0.0, 0.8 if move else 0.5, rows)
    elif shape == 3:  # exponential with 1 % missing; x03: scale x 1.4
        x = rng.exponential(1.4 if move else 1.0, rows)
        x[rng.random(rows) < 0.01] = np.nan
    else:  # Poisson counts (ties); x04: mean 20 -> 23
        x = rng.poisson(23.0 if move else 20.0, rows).astype(np.float64)
    return x


def make_table(rows: int, *, shifted: bool, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    table = {f"x{i:02d}": _numeric(i, rng, rows, shifted) for i in range(20)}
    even = np.full(CATEGORIES.size, 1.0 / CATEGORIES.size)
    table["c0"] = rng.choice(CATEGORIES, rows, p=even)
    if shifted:  # c1: the top tier gains 8 points, and 2 % arrive in a new tier
        weights = np.append(np.array([0.09, 0.09, 0.09, 0.09, 0.09, 0.09, 0.09, 0.37]), 0.0)
        weights = weights / weights.sum() * 0.98
        weights[-1] = 0.02
        table["c1"] = rng.choice(np.append(CATEGORIES, NEW_CATEGORY), rows, p=weights)
    else:
        table["c1"] = rng.choice(CATEGORIES, rows, p=even)
    return table


def tables(rows: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The reference (seed 1, unshifted) and the current table of `rows` rows (seed 2)."""
    return make_table(REFERENCE_ROWS, shifted=False, seed=1), make_table(rows, shifted=True, seed=2)


def fingerprint(*parts: dict[str, np.ndarray]) -> str:
    """SHA-256 over every column's name, dtype and bytes (no copy for contiguous arrays)."""
    digest = hashlib.sha256()
    for table in parts:
        for name, column in table.items():
            digest.update(f"{name}:{column.dtype.str}:{column.size};".encode())
            digest.update(memoryview(np.ascontiguousarray(column)).cast("B"))
    return digest.hexdigest()[:16]


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")
