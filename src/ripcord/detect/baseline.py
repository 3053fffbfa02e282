"""The in-control level of a per-event value, as the change-point detectors estimate it.

A warm-up of values gives a robust level: winsorised at the median ± `WINSOR` robust SDs
(1.4826 x MAD), so that one 30-second request cannot blind a latency detector, and the
mean and SD of the winsorised values; the same bounds clip every later value. A skewed
stream gets a per-side `tail_factor` so that it alarms no more often than a Gaussian one
at the same threshold. See `ripcord.detect.changepoint` for how the values are used.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq
from scipy.special import logsumexp

from ripcord.events import InferenceEvent

VALUES = ("confidence", "latency_ms", "error", "feature:<name>")
FEATURE = "feature:"
#: warm-up winsorising bounds, in robust SDs either side of the median
WINSOR = 4.0
#: the most one standardised value can weigh, in SDs
Z_CLIP = 5.0
#: 1.4826 x MAD estimates the SD of a normal distribution
MAD_TO_SD = 1.4826

#: the smallest `tail_factor`, so that no warm-up can switch a side off
MIN_TAIL_FACTOR = 0.25
Reader = Callable[[InferenceEvent], float | None]
FloatArray = npt.NDArray[np.float64]


def tail_factor(z: FloatArray, k: float) -> float:
    """How much lighter to weigh one side's increments so that its false-alarm rate is the
    Gaussian one: θ / 2k, at most 1, where θ > 0 solves mean(exp(θ (z - k))) = 1 over the
    warm-up's standardised values `z` (signed for the side).

    exp(θ S) is then a martingale, so a side crosses h before it returns to 0 with
    probability about exp(-θ h) (Cramér-Lundberg); for Gaussian values θ = 2k. A skewed
    stream (errors at 5 %, a long latency tail) has a smaller θ on its long side, and
    without the factor it would alarm ~50 times as often. No value above k: factor 1.
    """
    if float(z.max()) <= k:
        return 1.0
    n = math.log(z.size)

    def excess(theta: float) -> float:
        return float(logsumexp(theta * (z - k))) - n

    high = 2.0 * k
    while excess(high) <= 0.0:  # ends: excess grows without bound once a z exceeds k
        high *= 2.0
    low = high / 2.0 if high > 2.0 * k else 1e-9
    if excess(low) >= 0.0:  # the side drifts up in control: only a clipped warm-up does
        return MIN_TAIL_FACTOR
    theta = float(brentq(excess, low, high, xtol=1e-6))
    return max(MIN_TAIL_FACTOR, min(1.0, theta / (2.0 * k)))


def value_reader(on: str) -> Reader:
    """The per-event value `on` names, or None when the event has none."""
    if on == "confidence":
        return lambda event: event.confidence
    if on == "latency_ms":
        return lambda event: event.latency_ms
    if on == "error":
        return lambda event: 0.0 if event.error is None else 1.0
    if isinstance(on, str) and on.startswith(FEATURE) and len(on) > len(FEATURE):
        feature = on[len(FEATURE) :]

        def read(event: InferenceEvent) -> float | None:
            value = event.features.get(feature)
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            return float(value)

        return read
    raise ValueError(f"on: {on!r} must be one of {', '.join(VALUES)}")


class Baseline:
    """The in-control mean and SD: robust from the warm-up, then optionally running."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.warm: list[float] | None = []
        self.low, self.high = -math.inf, math.inf
        self.n, self.mean, self.m2, self.sd = 0, 0.0, 0.0, 1.0

    def warm_up(self, x: float) -> FloatArray | None:
        """Take a warm-up value; once the warm-up is full, calibrate and return the
        warm-up's standardised values."""
        assert self.warm is not None
        self.warm.append(x)
        if len(self.warm) < self.size:
            return None
        data = np.asarray(self.warm, dtype=float)
        self.warm = None
        median = float(np.median(data))
        spread = MAD_TO_SD * float(np.median(np.abs(data - median)))
        if spread > 0:  # a MAD of 0 (mostly one value, e.g. errors) leaves nothing to clip
            self.low, self.high = median - WINSOR * spread, median + WINSOR * spread
        clipped = np.clip(data, self.low, self.high)
        self.n, self.mean = int(clipped.size), float(clipped.mean())
        self.m2 = float(np.sum((clipped - self.mean) ** 2))
        self._rescale()
        standardised: FloatArray = np.clip((clipped - self.mean) / self.sd, -Z_CLIP, Z_CLIP)
        return standardised

    def clip(self, x: float) -> float:
        return self.low if x < self.low else self.high if x > self.high else x

    def learn(self, x: float) -> None:
        """Welford's update with one more (clipped) in-control value."""
        x = self.clip(x)
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)
        self._rescale()

    def _rescale(self) -> None:
        # No spread at all leaves a tiny floor: any departure is then a full Z_CLIP.
        floor = 1e-12 * max(1.0, abs(self.mean))
        self.sd = max(math.sqrt(self.m2 / (self.n - 1)), floor)
