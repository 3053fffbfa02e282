"""The detector contract: one base class, one registry, one signal type.

A detector watches one model version's inference events (and the labels that arrive for
them) over a bounded window, and on `check()` returns a Reading: the metric, its value, the
threshold, whether it is breached, and evidence. The engine turns breaches into Signals.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from ripcord.events import FeedbackEvent, InferenceEvent, LabelEvent
from ripcord.sop.schema import DetectorSpec, ModelSop
from ripcord.sop.severity import Direction


class Evidence(Mapping[str, Any]):
    """Evidence built when first read. Most checks find nothing wrong and nobody reads
    their evidence, so a family can hand over a function of values it has already captured
    (never of its live window, which moves on) instead of building the mapping every check.

    >>> calls = []
    >>> e = Evidence(lambda: calls.append(1) or {"top": 3})
    >>> calls, e["top"], e == {"top": 3}, calls
    ([], 3, True, [1])
    """

    __slots__ = ("_data", "_make")

    def __init__(self, make: Callable[[], Mapping[str, Any]]) -> None:
        self._make: Callable[[], Mapping[str, Any]] | None = make
        self._data: dict[str, Any] | None = None

    def _built(self) -> dict[str, Any]:
        if self._data is None:
            assert self._make is not None
            self._data, self._make = dict(self._make()), None
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._built()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())

    def __repr__(self) -> str:
        return repr(self._built())


@dataclass(frozen=True)
class Reading:
    """What a detector sees in its current window."""

    metric: str
    value: float
    threshold: float
    direction: Direction  # the value is bad when it is `above` / `below` the threshold
    window: int  # events the value is computed from
    evidence: Mapping[str, Any] = field(default_factory=dict)
    #: for estimates from a small window: the one-sided 99 % confidence bound nearest the
    #: threshold. A reading breaches only when this bound is past the threshold too, so a
    #: version that just went live is not paged on the noise of its first few events.
    bound: float | None = None

    def _past(self, x: float) -> bool:
        return x > self.threshold if self.direction == "above" else x < self.threshold

    @property
    def past(self) -> bool:
        """The value alone is past the threshold (whatever its confidence bound says)."""
        return self._past(self.value)

    @property
    def breached(self) -> bool:
        return self._past(self.value) and (self.bound is None or self._past(self.bound))


@dataclass(frozen=True)
class Signal:
    """A breached reading, attributed to a model, version and detector, at a time."""

    model: str
    version: str
    detector: str  # the detector's name in the SOP file
    family: str  # the detector's type (registry key)
    reading: Reading
    at: datetime
    segment: Mapping[str, str] | None = None  # None: all traffic

    @property
    def summary(self) -> str:
        r = self.reading
        sign = ">" if r.direction == "above" else "<"
        return f"{self.family} {r.metric}={r.value:.4g} {sign} {r.threshold:.4g} over {r.window}"


class Reference:
    """A frozen baseline: the first `size` served events of a model (or a supplied sample).

    Filled once, then never changed, so drift is always measured against the same thing.
    """

    def __init__(self, size: int) -> None:
        if size <= 0:
            raise ValueError(f"size: {size!r} must be > 0")
        self.size = size
        self.features: dict[str, list[Any]] = {}
        self.predictions: list[Any] = []
        self._count = 0

    @property
    def frozen(self) -> bool:
        return self._count >= self.size

    def add(self, features: Mapping[str, Any], prediction: Any) -> None:
        if self.frozen:
            return
        # Keep every column aligned with `predictions`: a feature missing from an event is
        # recorded as None, and one first seen late is padded, so missingness is measurable.
        for key in self.features.keys() - features.keys():
            self.features[key].append(None)
        for key, value in features.items():
            self.features.setdefault(key, [None] * self._count).append(value)
        self.predictions.append(prediction)
        self._count += 1


class Detector(abc.ABC):
    """Base class. Subclasses set `family`, validate their parameters in `__init__` (raising
    ValueError that names the parameter), and implement `observe` and `check`."""

    family: ClassVar[str]
    #: whether the threshold defaults from an SLA (the name of the Slas field) when unset
    sla_field: ClassVar[str | None] = None
    #: the threshold when neither the entry nor an SLA gives one
    default_threshold: ClassVar[float | None] = None
    #: the traffic the family reads: "tabular" features and predictions, "text" replies
    #: (LLM output), or "shadow" (the engine also hands it the shadow version's copies);
    #: the contract suite draws its seeded streams by it ("disliked": tabular traffic whose
    #: feedback turns negative across many users)
    traffic: ClassVar[str] = "tabular"
    #: the window an SOP entry that names none gets (None: the schema's 200 events). A
    #: family comparing groups or distributions needs more events than a rate does before
    #: noise alone stays clear of its threshold over a long stream
    default_window: ClassVar[int | None] = None
    #: whether the engine may read it every tenth of its window rather than at every
    #: check: a window-based reading moves by at most a tenth between two reads, while a
    #: change-point statistic crosses its threshold on one event and is read at each check
    spread_checks: ClassVar[bool] = True
    #: whether the family reads the passing of time with no event (`tick`): the engine
    #: ticks such detectors from the service's housekeeping, about once a second
    ticks: ClassVar[bool] = False

    def __init__(self, *, name: str, window: int, threshold: float | None) -> None:
        if window <= 0:
            raise ValueError(f"window: {window!r} must be > 0")
        self.name = name
        self.window = window
        if threshold is None:
            raise ValueError("threshold: None needs a value (or the SLA it defaults from)")
        self.threshold = float(threshold)

    @classmethod
    def from_spec(cls, spec: DetectorSpec, model: ModelSop, reference: Reference) -> Detector:
        """Build from an SOP entry; the threshold defaults from the SLA named by `sla_field`
        (or the family's `threshold_for`), and a family whose constructor takes the frozen
        `reference` (drift, data quality, reply length) is handed it."""
        extra = {"reference": reference} if _takes_reference(cls) else {}
        return cls(
            name=spec.key,
            window=spec.window,
            threshold=cls.threshold_for(spec, model),
            **extra,
            **spec.params,
        )

    @classmethod
    def threshold_for(cls, spec: DetectorSpec, model: ModelSop) -> float | None:
        """The entry's threshold, else the SLA named by `sla_field`, else the family's
        `default_threshold` (None: the constructor says it must be given)."""
        if spec.threshold is not None:
            return spec.threshold
        if cls.sla_field is not None and (value := getattr(model.slas, cls.sla_field)) is not None:
            return float(value)
        return cls.default_threshold

    @abc.abstractmethod
    def observe(self, event: InferenceEvent) -> None:
        """Take one served event into the window."""

    def observe_batch(self, events: Sequence[InferenceEvent]) -> None:
        """Take several events, in order; the same state as `observe` on each in turn.

        Families override it where a batch is cheaper than a loop (one `deque.extend`)."""
        for event in events:
            self.observe(event)

    def observe_reads(
        self, events: Sequence[InferenceEvent], stops: Sequence[int]
    ) -> list[Reading | None]:
        """Take `events` in order and read after the first `stop` of them, for each of the
        ascending `stops`: the readings `check()` would give there, and the same state at
        the end as `observe_batch(events)`.

        The engine hands a unit a whole micro-batch this way, once the reference has
        frozen; a family overrides it where one pass over the batch is cheaper than a
        batch and a check per stop (converting the batch's features once, not per check)."""
        readings: list[Reading | None] = []
        start = 0
        for stop in stops:
            if stop > start:
                self.observe_batch(events[start:stop])
            readings.append(self.check())
            start = stop
        if start < len(events):
            self.observe_batch(events[start:])
        return readings

    def observe_label(self, label: LabelEvent) -> None:  # noqa: B027 - optional hook
        """Take a late label (joined by request id). Most detectors ignore labels."""

    def observe_feedback(self, feedback: FeedbackEvent) -> None:  # noqa: B027 - optional hook
        """Take user feedback (by request id when it has one). Most detectors ignore it."""

    def tick(self, now: datetime) -> None:  # noqa: B027 - optional hook (with `ticks`)
        """The clock reached `now`. Only a family that reads silence (`ticks`) cares."""

    @abc.abstractmethod
    def check(self) -> Reading | None:
        """The reading on the current window; None while there is too little data."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget everything observed (the reference, if any, stays frozen)."""


def _takes_reference(cls: type[Detector]) -> bool:
    return "reference" in inspect.signature(cls.__init__).parameters


DetectorFactory = Callable[..., Detector]
#: constructor arguments that come from the detector entry or the runtime, not from `params`
_RESERVED = frozenset({"self", "name", "window", "threshold", "reference", "args", "kwargs"})


class DetectorRegistry:
    """Detector families by name. Built by the app factory and passed down; refuses
    duplicates, so two plugins cannot silently shadow each other."""

    def __init__(self) -> None:
        self._families: dict[str, type[Detector]] = {}

    def register(self, cls: type[Detector]) -> type[Detector]:
        if cls.family in self._families:
            raise ValueError(f"family: {cls.family!r} is already registered")
        self._families[cls.family] = cls
        return cls

    def get(self, family: str) -> type[Detector]:
        try:
            return self._families[family]
        except KeyError:
            known = ", ".join(sorted(self._families))
            raise KeyError(f"type: {family!r} is not one of {known}") from None

    def build(self, spec: DetectorSpec, model: ModelSop, reference: Reference) -> Detector:
        """Build a detector from its SOP entry. Raises ValueError naming the bad parameter."""
        cls = self.get(spec.type)
        if cls.default_window is not None and "window" not in spec.model_fields_set:
            spec = spec.model_copy(update={"window": cls.default_window})
        accepted = set(inspect.signature(cls.__init__).parameters) - _RESERVED
        for key in spec.params:
            if key in _RESERVED:
                raise ValueError(f"params.{key}: is set on the detector entry, not in params")
            if key not in accepted:
                raise ValueError(f"params.{key}: is not a parameter of {spec.type}")
        return cls.from_spec(spec, model, reference)

    def __contains__(self, family: object) -> bool:
        return family in self._families

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._families))
