"""Multiple-testing correction across the columns of one comparison.

Testing 22 columns at alpha = 0.05 each gives about a two-in-three chance of at least one
false alarm on a table that has not changed at all. The adjusted p-values here are compared
with alpha instead:

- ``"bh"`` (default), Benjamini-Hochberg: controls the false discovery rate, the expected
  share of flagged columns that did not really drift, at alpha. Valid for independent or
  positively dependent tests, which is the usual case for features of one table.
- ``"bonferroni"``: controls the chance of even one false alarm (family-wise error) at alpha,
  under any dependence; stricter, so it misses more small real shifts.

NaN marks a column that was not tested (too few values); it stays NaN and does not count in
the number of tests.

>>> adjust([0.01, 0.04, 0.03, float("nan")], "bh").round(3).tolist()
[0.03, 0.04, 0.04, nan]
>>> adjust([0.01, 0.04, 0.03], "bonferroni").round(3).tolist()
[0.03, 0.12, 0.09]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

CORRECTIONS = ("bh", "bonferroni")


def adjust(p_values: Iterable[float], method: str = "bh") -> npt.NDArray[np.float64]:
    """Adjusted p-values, in input order. Benjamini-Hochberg equals
    scipy.stats.false_discovery_control(method="bh") on the tested entries."""
    if method not in CORRECTIONS:
        raise ValueError(f"correction: {method!r} is not one of {', '.join(CORRECTIONS)}")
    p = np.asarray(list(p_values), dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values: expected a flat sequence, got shape {p.shape}")
    tested = ~np.isnan(p)
    if np.any((p[tested] < 0.0) | (p[tested] > 1.0)):
        raise ValueError("p_values: every p-value must lie in [0, 1] (or be NaN: not tested)")
    out = np.full(p.shape, np.nan)
    k = int(tested.sum())
    if k == 0:
        return out
    if method == "bonferroni":
        out[tested] = np.minimum(p[tested] * k, 1.0)
        return out
    order = np.argsort(p[tested], kind="stable")
    scaled = p[tested][order] * k / np.arange(1, k + 1)
    # step-up: each adjusted value is the smallest scaled value at its rank or above
    monotone = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(k)
    adjusted[order] = np.minimum(monotone, 1.0)
    out[tested] = adjusted
    return out
