"""The live detection engine: detectors per (model, version), fed event by event.

Signals are edge-triggered: a detector signals when its reading becomes breached, and is
re-armed only after `rearm_checks` clean checks in a row, so a lasting breach (or one that
hovers around its threshold) signals once, not on every check.

Events may come one by one (`observe`) or in the micro-batches the SDK and API deliver
(`observe_batch`). Both check a (model, version) after each `check_every`-th event it has
seen, so a batch gives exactly the signals (and timestamps) of its events fed one by one:
the batch path only replaces per-event detector calls with one call per chunk of events
between two checks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ripcord.detect.base import Detector, DetectorRegistry, Reading, Reference, Signal
from ripcord.events import InferenceEvent, LabelEvent, Route
from ripcord.sop.schema import Sop


def _reads_labels(detector: Detector) -> bool:
    return type(detector).observe_label is not Detector.observe_label


@dataclass
class _Watch:
    detectors: dict[str, Detector]
    breached: set[str] = field(default_factory=set)
    clean: dict[str, int] = field(default_factory=dict)  # consecutive clean checks
    seen: int = 0
    labels: int = 0
    label_readers: dict[str, Detector] = field(init=False)

    def __post_init__(self) -> None:
        self.label_readers = {k: d for k, d in self.detectors.items() if _reads_labels(d)}


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
        self._watches: dict[tuple[str, str], _Watch] = {}

    def _watch(self, model: str, version: str) -> _Watch:
        key = (model, version)
        if key not in self._watches:
            spec = self.sop.models[model]
            ref = self.references[model]
            built = {d.key: self.registry.build(d, spec, ref) for d in spec.detectors}
            self._watches[key] = _Watch(built)
        return self._watches[key]

    def observe(self, event: InferenceEvent) -> list[Signal]:
        """Feed one event; returns the signals it raised (usually none)."""
        if event.model not in self.sop.models:
            return []
        if event.route is Route.CHAMPION and event.error is None:
            self.references[event.model].add(event.features, event.prediction)
        watch = self._watch(event.model, event.version)
        for detector in watch.detectors.values():
            detector.observe(event)
        watch.seen += 1
        if watch.seen % self.check_every:
            return []
        return self._check(event.model, event.version, watch, event)

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
        """Events of one (model, version), fed in chunks that end at a check."""
        first = run[0]
        watch = self._watch(first.model, first.version)
        reference = self.references[first.model]
        detectors = tuple(watch.detectors.values())
        signals: list[Signal] = []
        pos = 0
        while pos < len(run):
            chunk = run[pos : pos + self.check_every - watch.seen % self.check_every]
            pos += len(chunk)
            if not reference.frozen:  # filled in event order, before detectors see them
                for event in chunk:
                    if event.route is Route.CHAMPION and event.error is None:
                        reference.add(event.features, event.prediction)
            for detector in detectors:
                detector.observe_batch(chunk)
            watch.seen += len(chunk)
            if watch.seen % self.check_every == 0:
                signals += self._check(first.model, first.version, watch, chunk[-1])
        return signals

    def observe_label(self, label: LabelEvent) -> list[Signal]:
        """Labels carry no version: offer them to every watched version of the model, and
        re-check only the detectors that read labels."""
        signals: list[Signal] = []
        for (model, version), watch in list(self._watches.items()):
            if model != label.model or not watch.label_readers:
                continue
            for detector in watch.label_readers.values():
                detector.observe_label(label)
            watch.labels += 1
            if watch.labels % self.check_every == 0:
                signals += self._check(model, version, watch, label, watch.label_readers)
        return signals

    def _check(
        self,
        model: str,
        version: str,
        watch: _Watch,
        event: InferenceEvent | LabelEvent,
        detectors: dict[str, Detector] | None = None,
    ) -> list[Signal]:
        signals = []
        for name, detector in (detectors or watch.detectors).items():
            reading = detector.check()
            if reading is None:
                continue
            if not reading.breached:
                watch.clean[name] = watch.clean.get(name, 0) + 1
                if watch.clean[name] >= self.rearm_checks:
                    watch.breached.discard(name)
                continue
            watch.clean[name] = 0
            if name not in watch.breached:
                watch.breached.add(name)
                signals.append(
                    Signal(model, version, name, detector.family, reading, event.timestamp)
                )
        return signals

    def readings(self, model: str, version: str) -> Iterator[tuple[str, Reading]]:
        """The current reading of every detector on (model, version) that has one."""
        for name, detector in self._watch(model, version).detectors.items():
            if (reading := detector.check()) is not None:
                yield name, reading

    def forget(self, model: str, version: str) -> None:
        """Drop a version's detectors, e.g. before it is verified afresh after a rollback."""
        self._watches.pop((model, version), None)
