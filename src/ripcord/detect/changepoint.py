"""Change-point detectors on per-event streams: CUSUM and Page-Hinkley.

Window detectors compare a window's mean with a threshold, so they need a window's worth
of bad events before they can see a small shift. A change-point detector accumulates the
evidence event by event instead and, for a given false-alarm rate, is the fastest detector
of a sustained mean shift (Lorden 1971; Moustakides 1986). Each one here watches one value
per champion event, chosen by `on`: "confidence", "latency_ms", "error" (1 when the event
has an error, else 0) or "feature:<name>" (events without a number there are skipped).

How a value becomes evidence:

1. Warm-up. The first `warmup` values (default 500) estimate the in-control level. The
   estimate is robust: values are winsorised at the median ± `WINSOR` robust SDs (1.4826 x
   MAD), and the mean and SD are those of the winsorised values, so one 30-second request
   in the warm-up cannot blind the detector. The same bounds clip every later value, which
   keeps the standardised values centred on 0 for skewed streams too (a median would not).
2. Standardise: z = (clipped value - mean) / SD, clipped to ± `Z_CLIP`, so no single event
   contributes more than Z_CLIP - k. A warm-up with no spread at all (an error stream with
   no error yet) gives every departure the full Z_CLIP: an error rate over about
   k / Z_CLIP (5 %) is then detected, a stray error is not. A skewed stream (errors at
   5 %, a long latency tail) would alarm far more often than a Gaussian one at the same h,
   so each side's increments are weighed by `tail_factor` (<= 1, from the warm-up).
3. Accumulate (Page 1954): S⁺ = max(0, S⁺ + z - k) and S⁻ = max(0, S⁻ - z - k) for `side`
   "both" (default), or one of them for "up" / "down". `k` is the drift allowance in SD
   units: 0.25, the optimum for a 0.5 SD shift. The alarm is S > `h` (the SOP's
   `threshold`). The last time S was 0 estimates the change point, and S / n + k (n events
   since then) the shift's size in SD units.

The two families differ in their reference level. `cusum` freezes it after the warm-up,
like a chart with a frozen baseline: it never absorbs a slow drift, but a warm-up estimate
that is off by chance (about 1 / √warmup SD) shortens its run length, so its default `h` is
higher. `page_hinkley` (Hinkley 1971) measures each value against the running mean and SD
of all the values before it, as the Page-Hinkley test does; its baseline gets sharper as
traffic flows, so a lower `h` keeps false alarms as rare. Its statistic, m_T - min m_t over
m_T = Σ (z_t - k), equals the recursion above, which is how it is computed (no sum grows).

Defaults, measured over 1,000 seeded streams of 20,000 N(0, 1) values then N(0.5, 1)
(`benchmarks/stream_delay.py --seeds 1000 --no-river`), with k = 0.25 and warmup = 500:

| family | h | streams with a false alarm in 19,500 events | delay: median / p95 / worst |
|---|---|---|---|
| page_hinkley | 24 | 1.2 % | 82.5 / 163 / 282 |
| cusum | 28 | 2.3 % | 97 / 199 / 423 |

h = 24 is the lowest at which 20 streams pass with no false alarm in at least 19 of them
with 95 % probability. With known parameters, `arl0()` (Siegmund's approximation) gives an
average run length of 1.2 million events for h = 24 and 8.6 million for h = 28, two-sided.
No detector can do much better (`benchmarks/delay_frontier.py`, 4,000 streams): the two
optimal procedures for a known shift, one-sided CUSUM and Shiryaev-Roberts, told the mean,
the SD and the shift, need a median of 78-79 events to keep false alarms as rare (at most
one in 20 streams with probability 0.95), and 65-66 at probability 0.5.

After an alarm the detector latches: the baseline stops learning, the reading stays
breached (its value is the statistic's peak since the alarm) and the shift estimate keeps
refining on the events that follow. The engine edge-triggers, so a latched detector signals
once. A latch that the following traffic refutes is released: once `RECOVERY` (200) values
have followed the alarm and their mean is within k SDs of the in-control mean (inside the
smallest shift the detector is tuned for), the alarm was a false one or the shift is over,
so the statistics restart from zero on the same baseline and the detector can catch the
next change instead of staying breached for good. Memory is O(1) once warm; the warm-up
holds at most `warmup` floats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from ripcord.detect.base import Detector, Reading
from ripcord.detect.baseline import Z_CLIP, Baseline, tail_factor, value_reader
from ripcord.detect.windows import require_choice, require_int
from ripcord.events import InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop

SIDES = ("both", "up", "down")
DEFAULT_K = 0.25
DEFAULT_WARMUP = 500
MIN_WARMUP = 30
#: values after an alarm before the detector judges whether the traffic still bears it out
RECOVERY = 200


def require_positive(name: str, value: object) -> float:
    """A finite number > 0 (`k: -1 must be > 0`)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: {value!r} must be a number")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: {value!r} must be > 0")
    return float(value)


def arl0(k: float, h: float, side: str = "both") -> float:
    """In-control average run length of a standardised CUSUM with known mean and SD, by
    Siegmund's (1985) approximation; within a few % of the exact figures for h >= 3.

    >>> round(arl0(0.5, 4.0))  # Montgomery's table: 168 for the two-sided k=0.5, h=4
    169
    """
    b = 2.0 * require_positive("k", k) * (require_positive("h", h) + 1.166)
    one_sided = (math.exp(b) - b - 1.0) / (2.0 * k * k)
    return one_sided / 2.0 if require_choice("side", side, SIDES) == "both" else one_sided


@dataclass(slots=True)
class _Excursion:
    """One side's statistic and how long it has been above 0."""

    name: str
    sign: float  # +1 watches for a rise, -1 for a fall
    factor: float = 1.0  # see `tail_factor`
    statistic: float = 0.0
    length: int = 0

    def step(self, z: float, k: float) -> None:
        s = self.statistic + self.factor * (self.sign * z - k)
        if s > 0.0:
            self.statistic, self.length = s, self.length + 1
        else:
            self.statistic, self.length = 0.0, 0

    def shift(self, k: float) -> float:
        """Mean z since the estimated change point (S = factor · Σ (sign·z - k) over
        `length` events)."""
        if not self.length:
            return 0.0
        return self.sign * (self.statistic / (self.factor * self.length) + k)


@dataclass(slots=True)
class _Alarm:
    """What the detector latched on when S first crossed h."""

    side: _Excursion
    index: int  # value index at the alarm
    change_index: int
    z_sum: float
    count: int
    peak: float
    after_sum: float = 0.0  # the values since the alarm only, to judge whether it holds
    after: int = 0

    def follow(self, z: float) -> None:
        self.z_sum += z
        self.count += 1
        self.after_sum += z
        self.after += 1
        self.peak = max(self.peak, self.side.statistic)


class ChangePointDetector(Detector):
    """A standardised CUSUM on one per-event value; see the module docstring.

    Parameters: `on`, `side`, `k`, `warmup`; the SOP's `threshold` is h (default
    `default_h`). `window` plays no part (the state is O(1)); the reading's `window` is the
    number of events since the estimated change point. Subclasses set `family`,
    `default_h` and `running` (whether the baseline keeps learning until an alarm).
    """

    default_h: ClassVar[float]
    running: ClassVar[bool]
    spread_checks = False  # the statistic crosses h on one event: read it at every check

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None,
        on: str = "confidence",
        side: str = "both",
        k: float = DEFAULT_K,
        warmup: int = DEFAULT_WARMUP,
    ) -> None:
        super().__init__(name=name, window=window, threshold=threshold)
        self.h = require_positive("threshold", self.threshold)
        self.k = require_positive("k", k)
        self.side = require_choice("side", side, SIDES)
        self.warmup = require_int("warmup", warmup, low=MIN_WARMUP)
        self._read = value_reader(on)
        self.on = on
        self.metric = f"{self.family}_{on}"
        self.reset()

    @classmethod
    def threshold_for(cls, spec: DetectorSpec, model: ModelSop) -> float | None:
        return cls.default_h if spec.threshold is None else spec.threshold

    def reset(self) -> None:
        self._baseline = Baseline(self.warmup)
        self._sides = [
            _Excursion(name, sign)
            for name, sign in (("up", 1.0), ("down", -1.0))
            if self.side in ("both", name)
        ]
        self._seen = 0
        self._alarm: _Alarm | None = None

    def observe(self, event: InferenceEvent) -> None:
        if event.route is Route.CHAMPION and (value := self._read(event)) is not None:
            self.update(value)

    def update(self, value: float) -> bool:
        """Take one value (the fast path `observe` uses); True while the detector is
        breached. Non-finite values are skipped."""
        x = float(value)
        if not math.isfinite(x):
            return self._alarm is not None
        index, self._seen = self._seen, self._seen + 1
        base = self._baseline
        if base.warm is not None:
            if (warm := base.warm_up(x)) is not None:
                for excursion in self._sides:
                    excursion.factor = tail_factor(excursion.sign * warm, self.k)
            return False
        z = (base.clip(x) - base.mean) / base.sd
        z = -Z_CLIP if z < -Z_CLIP else Z_CLIP if z > Z_CLIP else z
        crossed = None
        for excursion in self._sides:
            excursion.step(z, self.k)
            if excursion.statistic > self.h:
                crossed = excursion
        if self._alarm is not None:
            self._alarm.follow(z)
            alarm = self._alarm
            if alarm.after >= RECOVERY and abs(alarm.after_sum / alarm.after) < self.k:
                self._release()
                return False
            return True
        if crossed is not None:
            self._alarm = self._latch(crossed, index)
            return True
        if self.running:
            base.learn(x)
        return False

    def _release(self) -> None:
        """The traffic since the alarm no longer bears it out: start afresh, same baseline."""
        self._alarm = None
        for excursion in self._sides:
            excursion.statistic, excursion.length = 0.0, 0

    def _latch(self, side: _Excursion, index: int) -> _Alarm:
        z_sum = side.sign * (side.statistic / side.factor + self.k * side.length)
        start = index - side.length + 1
        return _Alarm(side, index, start, z_sum, side.length, side.statistic)

    def check(self) -> Reading | None:
        if self._baseline.warm is not None:
            return None
        alarm = self._alarm
        if alarm is None:
            side = max(self._sides, key=lambda e: e.statistic)
            value, count = side.statistic, side.length
            start, shift = (self._seen - count if count else None), side.shift(self.k)
        else:
            side, value, count = alarm.side, alarm.peak, alarm.count
            start, shift = alarm.change_index, alarm.z_sum / alarm.count
        evidence = self._evidence(side, start, shift, count)
        return Reading(self.metric, value, self.h, "above", count, evidence)

    def _evidence(
        self, side: _Excursion, start: int | None, shift: float, count: int
    ) -> dict[str, Any]:
        base = self._baseline
        return {
            "on": self.on,
            "side": side.name,
            "statistic": side.statistic,
            "tail_factor": side.factor,
            "k": self.k,
            "h": self.h,
            "in_control_mean": base.mean,
            "in_control_sd": base.sd,
            "baseline": "running" if self.running else "frozen",
            "baseline_events": base.n,
            "change_index": start,
            "events_since_change": count,
            "shift_sd": shift,
            "shift": shift * base.sd,
            "alarm_index": None if self._alarm is None else self._alarm.index,
            "values_seen": self._seen,
            "arl0_known_parameters": arl0(self.k, self.h, self.side),
        }


class CusumDetector(ChangePointDetector):
    """Page's CUSUM against the level the warm-up measured, frozen from then on.

    >>> d = CusumDetector(name="cusum", window=1, threshold=28.0, warmup=30)
    >>> for x in [0.0, 1.0] * 15 + [3.0] * 10:
    ...     breached = d.update(x)
    >>> breached, d.check().evidence["change_index"]
    (True, 30)
    """

    family = "cusum"
    default_h = 28.0
    running = False


class PageHinkleyDetector(ChangePointDetector):
    """The Page-Hinkley test: each value against the running mean and SD of all values
    before it (warm-up included), until an alarm freezes them."""

    family = "page_hinkley"
    default_h = 24.0
    running = True
