"""The live detection engine: detectors per (model, version), fed event by event.

Signals are edge-triggered: a detector signals when its reading becomes breached, and is
re-armed only after `rearm_checks` clean checks in a row, so a lasting breach (or one that
hovers around its threshold) signals once, not on every check.

Events may come one by one (`observe`) or in the micro-batches the SDK and API deliver
(`observe_batch`). Both check a (model, version) after each `check_every`-th event it has
seen, so a batch gives exactly the signals (and timestamps) of its events fed one by one:
the batch path only replaces per-event detector calls with one call per chunk of events
between two checks.

A check reads the detectors that are due: by default a window-based detector every tenth
of its window (a window of 300 events is read every 30 events: its reading has moved by at
most a tenth since the last read, so a signal comes at most that much later), and a
change-point detector at every check. `check_every` on a detector entry overrides it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from ripcord.detect.base import DetectorRegistry, Reading, Reference, Signal
from ripcord.detect.units import Track, Unit, Watch
from ripcord.events import FeedbackEvent, InferenceEvent, LabelEvent, Route
from ripcord.sop.schema import Sop


class DetectionEngine:
    def __init__(
        self, sop: Sop, registry: DetectorRegistry, *, check_every: int = 10, rearm_checks: int = 3
    ) -> None:
        if check_every <= 0:
            raise ValueError(f"check_every: {check_every!r} must be > 0")
        if rearm_checks <= 0:
            raise ValueError(f"rearm_checks: {rearm_checks!r} must be > 0")
        self.rearm_checks = rearm_checks
        self.sop = sop
        self.registry = registry
        self.check_every = check_every
        self.references = {name: Reference(m.reference_size) for name, m in sop.models.items()}
        self._watches: dict[tuple[str, str], Watch] = {}

    def _watch(self, model: str, version: str) -> Watch:
        key = (model, version)
        if key not in self._watches:
            spec = self.sop.models[model]
            ref = self.references[model]
            units = {
                d.key: Unit(d, partial(self.registry.build, d, spec, ref)) for d in spec.detectors
            }
            for unit in units.values():
                unit.every = self._cadence(unit)
            self._watches[key] = Watch(units)
        return self._watches[key]

    def _cadence(self, unit: Unit) -> int:
        """How often a unit is read, rounded up to a multiple of the engine's cadence (so
        that batches still end their chunks exactly at the reads)."""
        spec, step = unit.spec, self.check_every
        wanted = spec.check_every
        if wanted is None:
            detector = unit.all.detector  # its window: the entry's, or the family's default
            wanted = detector.window // 10 if detector.spread_checks else step
        return step * max(1, -(-wanted // step))

    def observe(self, event: InferenceEvent) -> list[Signal]:
        """Feed one event; returns the signals it raised (usually none)."""
        if event.model not in self.sop.models:
            return []
        if event.route is Route.CHAMPION and event.error is None:
            self.references[event.model].add(event.features, event.prediction)
        watch = self._watch(event.model, event.version)
        for observe in watch.observers:
            observe(event)
        for unit in watch.segmented:
            if (track := unit.segment_of(event)) is not None:
                track.detector.observe(event)
        watch.seen += 1
        if event.route is Route.SHADOW:
            self._offer_shadow(event.model, event.version, (event,))
        if watch.seen % self.check_every:
            return []
        return self._check(event.model, event.version, watch, event)

    def _offer_shadow(self, model: str, shadow: str, events: Sequence[InferenceEvent]) -> None:
        """A shadow copy also goes to the other versions' shadow readers (the serving
        version compares it with its own answer to the same request)."""
        for (m, version), watch in self._watches.items():
            if m == model and version != shadow:
                for unit in watch.shadow_readers.values():
                    unit.observe(events)

    def observe_batch(self, events: Sequence[InferenceEvent]) -> list[Signal]:
        """Feed events in order; returns the same signals as `observe` on each in turn.

        The batch is cut into runs of one (model, version), and each run into chunks that
        end where a check falls due; each detector takes a chunk in one `observe_batch`.
        """
        signals: list[Signal] = []
        start, n = 0, len(events)
        while start < n:
            model, version = events[start].model, events[start].version
            end = start + 1
            while end < n and events[end].model == model and events[end].version == version:
                end += 1
            if model in self.sop.models:
                signals += self._observe_run(events[start:end])
            start = end
        return signals

    def _observe_run(self, run: Sequence[InferenceEvent]) -> list[Signal]:
        """Events of one (model, version): once the reference has frozen, each unit takes
        the whole run at once; before, the run goes in chunks that end at a check."""
        first = run[0]
        watch = self._watch(first.model, first.version)
        if self.references[first.model].frozen:
            signals = self._observe_units(first.model, first.version, watch, run)
        else:
            signals = self._observe_chunks(first.model, first.version, watch, run)
        if copies := [e for e in run if e.route is Route.SHADOW]:
            self._offer_shadow(first.model, first.version, copies)
        return signals

    def _observe_chunks(
        self, model: str, version: str, watch: Watch, run: Sequence[InferenceEvent]
    ) -> list[Signal]:
        """Every unit takes a chunk, then the due ones are read: the reference fills in
        event order, before the detectors see each event, and drift reads it at checks."""
        reference = self.references[model]
        units = tuple(watch.units.values())
        signals: list[Signal] = []
        pos = 0
        while pos < len(run):
            chunk = run[pos : pos + self.check_every - watch.seen % self.check_every]
            pos += len(chunk)
            if not reference.frozen:
                for event in chunk:
                    if event.route is Route.CHAMPION and event.error is None:
                        reference.add(event.features, event.prediction)
            for unit in units:
                unit.observe(chunk)
            watch.seen += len(chunk)
            if watch.seen % self.check_every == 0:
                signals += self._check(model, version, watch, chunk[-1])
        return signals

    def _observe_units(
        self, model: str, version: str, watch: Watch, run: Sequence[InferenceEvent]
    ) -> list[Signal]:
        """Unit by unit: each takes the run and is read at each of its due counts. Units
        share no state once the reference is frozen, so the signals are those of the chunk
        path, put back in its order (by event, then by unit)."""
        found: list[tuple[int, int, Signal]] = []
        for order, (name, unit) in enumerate(watch.units.items()):
            every = unit.every
            stops = range(every - watch.seen % every, len(run) + 1, every)
            family = unit.all.detector.family
            for stop, track, reading in self._unit_reads(unit, run, stops):
                signal = Signal(
                    model, version, name, family, reading, run[stop - 1].timestamp,
                    segment=track.segment,
                )  # fmt: skip
                found.append((stop, order, signal))
        watch.seen += len(run)
        found.sort(key=lambda f: (f[0], f[1]))  # stable: a unit's segments keep their order
        return [signal for _, _, signal in found]

    def _unit_reads(
        self, unit: Unit, run: Sequence[InferenceEvent], stops: Sequence[int]
    ) -> list[tuple[int, Track, Reading]]:
        """The signals of one unit over a run, each with the count of events it came at."""
        out: list[tuple[int, Track, Reading]] = []
        if unit.spec.segment_by:  # segment tracks are judged with all traffic: chunk by chunk
            start = 0
            for stop in stops:
                unit.observe(run[start:stop])
                start = stop
                out += [(stop, t, r) for t, r in self._judge(unit, run[stop - 1].timestamp)]
            if start < len(run):
                unit.observe(run[start:])
            return out
        track, spec = unit.all, unit.spec
        readings = track.detector.observe_reads(run, stops)
        for stop, reading in zip(stops, readings, strict=True):
            if track.judge(reading, spec, self.rearm_checks):
                at = run[stop - 1].timestamp
                out += [(stop, t, r) for t, r in track.fire(reading, at, spec)]
        return out

    def observe_label(self, label: LabelEvent) -> list[Signal]:
        """Labels carry no version: offer them to every watched version of the model, and
        re-check only the detectors that read labels."""
        signals: list[Signal] = []
        for (model, version), watch in list(self._watches.items()):
            if model != label.model or not watch.label_readers:
                continue
            for unit in watch.label_readers.values():
                for track in unit.tracks():  # each segment's detector joins its own requests
                    track.detector.observe_label(label)
            watch.labels += 1
            if watch.labels % self.check_every == 0:
                signals += self._check(model, version, watch, label, watch.label_readers)
        return signals

    def observe_feedback(self, feedback: FeedbackEvent) -> list[Signal]:
        """Feedback names no version either (and often no request): offer it to every
        watched version of the model, and re-check only the detectors that read feedback,
        after every `check_every`-th feedback event."""
        signals: list[Signal] = []
        for (model, version), watch in list(self._watches.items()):
            if model != feedback.model or not watch.feedback_readers:
                continue
            for unit in watch.feedback_readers.values():
                for track in unit.tracks():  # segment detectors join by their own requests
                    track.detector.observe_feedback(feedback)
            watch.feedback += 1
            if watch.feedback % self.check_every == 0:
                signals += self._check(model, version, watch, feedback, watch.feedback_readers)
        return signals

    def _check(
        self,
        model: str,
        version: str,
        watch: Watch,
        event: InferenceEvent | LabelEvent | FeedbackEvent | datetime,
        units: dict[str, Unit] | None = None,
    ) -> list[Signal]:
        """Read `units` (default: those due at this count) at the event's time, or at a
        clock time for a tick."""
        at = event if isinstance(event, datetime) else event.timestamp
        signals = []
        if units is None:  # an inference event's check: the units due at this count
            units = {n: u for n, u in watch.units.items() if watch.seen % u.every == 0}
        for name, unit in units.items():
            for track, reading in self._judge(unit, at):
                signals.append(
                    Signal(
                        model,
                        version,
                        name,
                        unit.all.detector.family,
                        reading,
                        at,
                        segment=track.segment,
                    )
                )
        return signals

    def _judge(self, unit: Unit, at: datetime) -> list[tuple[Track, Reading]]:
        """Check every track of a unit; the tracks that signal now, with their readings.

        All traffic signals when it breaches, and its evidence says which segments are
        affected: those whose own reading is past the threshold (`scope: segments`), or
        `scope: all traffic` when every segment that reads is, or none is (the problem is
        spread thin). A segment signals on its own, with its segment, only while all
        traffic is not breached: a problem the aggregate hides (a small region gone wrong).
        """
        spec, rearm = unit.spec, self.rearm_checks
        reading = unit.all.detector.check()
        fresh = unit.all.judge(reading, spec, rearm)
        if not spec.segment_by:
            return unit.all.fire(reading, at, spec) if fresh else []
        checked = [(t, t.detector.check()) for t in unit.segments.values()]
        new = [(t, r) for t, r in checked if t.judge(r, spec, rearm)]
        if unit.all.breached:
            if not fresh:
                return []
            read = [(t, r) for t, r in checked if r is not None]
            past = [t.segment for t, r in read if r.past]
            whole = len(past) in (0, len(read))
            scope: dict[str, Any] = {
                "scope": "all traffic" if whole else "segments",
                "segments_affected": [t.segment for t in unit.segments.values()] if whole else past,
                "events_in_unwatched_segments": unit.overflow,
            }
            return unit.all.fire(reading, at, spec, scope)
        scope = {"scope": "segment", "events_in_unwatched_segments": unit.overflow}
        return [fired for t, r in new for fired in t.fire(r, at, spec, scope)]

    def readings(self, model: str, version: str) -> Iterator[tuple[str, Reading]]:
        """The current reading of every detector on (model, version) that has one."""
        for name, unit in self._watch(model, version).units.items():
            if (reading := unit.all.detector.check()) is not None:
                yield name, reading

    def forget(self, model: str, version: str) -> None:
        """Drop a version's detectors, e.g. before it is verified afresh after a rollback."""
        self._watches.pop((model, version), None)

    def tick(self, now: datetime, serving: Iterable[tuple[str, str]]) -> list[Signal]:
        """The clock reached `now` with or without traffic: the detectors that read silence
        (`Detector.ticks`, e.g. throughput) of each (model, version) in `serving` take it and
        are read, so traffic that stops dead still signals. Only versions that should be
        receiving traffic are ticked: one rolled back away from is silent by design."""
        signals: list[Signal] = []
        for model, version in serving:
            watch = self._watches.get((model, version))
            if watch is None:
                continue  # no event yet since the start: nothing to compare silence with
            ticking = {n: u for n, u in watch.units.items() if u.all.detector.ticks}
            for unit in ticking.values():
                for track in unit.tracks():
                    track.detector.tick(now)
            signals += self._check(model, version, watch, now, ticking)
        return signals
