"""What the engine keeps per SOP detector entry and per (model, version).

A `Track` is one detector instance, on all traffic or on one segment, with its
edge-trigger state (breached, clean checks in a row, the last `n` outcomes for
persistence, the last signal for the cooldown). A `Unit` is one entry of the SOP's
`detectors:` with its all-traffic track and, with `segment_by`, a track per segment value.
A `Watch` holds the units of one (model, version) and the counts the engine checks on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ripcord.detect.base import Detector, Reading
from ripcord.events import InferenceEvent
from ripcord.sop.schema import DetectorSpec


def _reads_labels(detector: Detector) -> bool:
    return type(detector).observe_label is not Detector.observe_label


def _reads_feedback(detector: Detector) -> bool:
    return type(detector).observe_feedback is not Detector.observe_feedback


@dataclass
class Track:
    """One detector instance, on all traffic (`segment` None) or on one segment, and its
    edge-trigger state: whether it is breached, clean checks in a row, the last `n` check
    outcomes (persistence) and when it last signalled (cooldown)."""

    detector: Detector
    segment: dict[str, str] | None
    history: deque[bool]
    breached: bool = False
    clean: int = 0
    last_signal: datetime | None = None

    def judge(self, reading: Reading | None, spec: DetectorSpec, rearm_checks: int) -> bool:
        """Record one check; True when the track has just become breached."""
        if reading is None:
            return False
        self.history.append(reading.breached)
        if sum(self.history) < spec.persistence.k:
            self.clean += 1
            if self.clean >= rearm_checks:
                self.breached = False
            return False
        self.clean = 0
        if self.breached:
            return False
        self.breached = True
        return True

    def fire(
        self,
        reading: Reading | None,
        at: datetime,
        spec: DetectorSpec,
        scope: dict[str, Any] | None = None,
    ) -> list[tuple[Track, Reading]]:
        """Signal this reading, unless it is still within `cooldown_s` of the last signal."""
        last = self.last_signal
        if reading is None or (last is not None and (at - last).total_seconds() < spec.cooldown_s):
            return []
        self.last_signal = at
        if scope:
            reading = replace(reading, evidence={**reading.evidence, **scope})
        return [(self, reading)]


@dataclass
class Unit:
    """A detector entry of the SOP: its all-traffic track and, with `segment_by`, one track
    per segment value (at most `max_segments`)."""

    spec: DetectorSpec
    build: Callable[[], Detector]
    all: Track = field(init=False)
    segments: dict[tuple[str, ...], Track] = field(default_factory=dict)
    overflow: int = 0  # events of segments past `max_segments`, not watched on their own

    every: int = 1  # events between two readings: a multiple of the engine's cadence

    def __post_init__(self) -> None:
        self.all = self.new_track(None)

    def new_track(self, segment: dict[str, str] | None) -> Track:
        return Track(self.build(), segment, deque(maxlen=self.spec.persistence.n))

    def tracks(self) -> Iterator[Track]:
        yield self.all
        yield from self.segments.values()

    def segment_of(self, event: InferenceEvent) -> Track | None:
        keys = self.spec.segment_by
        try:
            values = tuple(event.segment[k] for k in keys)
        except KeyError:
            return None  # the event does not carry the attribute: all traffic only
        track = self.segments.get(values)
        if track is None:
            if len(self.segments) >= self.spec.max_segments:
                self.overflow += 1
                return None
            track = self.segments[values] = self.new_track(dict(zip(keys, values, strict=True)))
        return track

    def observe(self, events: Sequence[InferenceEvent]) -> None:
        self.all.detector.observe_batch(events)
        if not self.spec.segment_by:
            return
        groups: dict[int, tuple[Track, list[InferenceEvent]]] = {}
        for event in events:
            if (track := self.segment_of(event)) is not None:
                groups.setdefault(id(track), (track, []))[1].append(event)
        for track, group in groups.values():
            track.detector.observe_batch(group)


@dataclass
class Watch:
    units: dict[str, Unit]
    seen: int = 0
    labels: int = 0
    label_readers: dict[str, Unit] = field(init=False)
    feedback: int = 0  # feedback events offered, counted like `labels`
    feedback_readers: dict[str, Unit] = field(init=False)
    shadow_readers: dict[str, Unit] = field(init=False)
    #: the per-event path's calls, looked up once: every all-traffic detector's `observe`,
    #: and the units that also feed a detector per segment
    observers: tuple[Callable[[InferenceEvent], None], ...] = field(init=False)
    segmented: tuple[Unit, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.observers = tuple(u.all.detector.observe for u in self.units.values())
        self.segmented = tuple(u for u in self.units.values() if u.spec.segment_by)
        self.shadow_readers = {
            k: u for k, u in self.units.items() if u.all.detector.traffic == "shadow"
        }
        self.label_readers = {k: u for k, u in self.units.items() if _reads_labels(u.all.detector)}
        self.feedback_readers = {
            k: u for k, u in self.units.items() if _reads_feedback(u.all.detector)
        }
