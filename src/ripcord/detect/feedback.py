"""Feedback: a thumbs-down spike, and poisoning — thumbs-down from a handful of sources.

User feedback (-1 thumbs-down … +1 thumbs-up) is the loudest quality signal a product has,
and the cheapest to fake: a few accounts or a script can send thousands of thumbs-down. So
two families read it. `feedback_spike` says "users dislike this version's answers";
`feedback_poisoning` says "the dislike comes from a few sources", which is a problem of the
feedback loop (ranking or retraining on feedback), not a model failure. The default severity
table gives poisoning the `data` type at SEV-3, so it pages the data owners and neither trips
the breaker nor rolls a version back.

Feedback without a source arrives as `unknown`; it cannot be attributed, so it is counted as
if each such event came from a different source, and can never look concentrated.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Sequence
from typing import Any

from ripcord.detect.base import Detector, Reading
from ripcord.detect.windows import MIN_EVENTS, rate_bound, require_int, require_number
from ripcord.events import FeedbackEvent, InferenceEvent, Route

#: the source of feedback that named none (FeedbackEvent's default)
UNKNOWN_SOURCE = "unknown"
#: champion requests remembered to attribute feedback to this version (oldest forgotten)
SERVED_LIMIT = 10_000
#: thumbs-down share that is a spike, by default
SPIKE_THRESHOLD = 0.3
#: share of the window's thumbs-down from the top `k` sources that is poisoning, by default
POISONING_THRESHOLD = 0.5


class FeedbackDetector(Detector):
    """The last `window` feedback events, as (source, thumbs-down?) pairs.

    A score below `negative_below` (default 0: any thumbs-down) counts as negative.
    `check()` reads once `min_events` (default min(window, 30)) feedback events are in.
    Subclasses say which feedback they take (`_accepts`) and how the window reads.
    """

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None,
        default: float,
        negative_below: float = 0.0,
        min_events: int | None = None,
    ) -> None:
        super().__init__(
            name=name, window=window, threshold=default if threshold is None else threshold
        )
        require_number("threshold", self.threshold, low=0.0, high=1.0)
        self.negative_below = require_number(
            "negative_below", negative_below, low=-1.0, high=1.0, open_=True
        )
        self.min_events = (
            min(window, MIN_EVENTS)
            if min_events is None
            else require_int("min_events", min_events, low=1, high=window)
        )
        self._feedback: deque[tuple[str, bool]] = deque(maxlen=window)

    def observe_feedback(self, feedback: FeedbackEvent) -> None:
        if self._accepts(feedback):
            self._feedback.append((feedback.source, feedback.score < self.negative_below))

    def _accepts(self, feedback: FeedbackEvent) -> bool:
        return True

    def reset(self) -> None:
        self._feedback.clear()


def _top_sources(window: Sequence[tuple[str, bool]], k: int) -> list[tuple[str, int]]:
    """The `k` named sources with the most thumbs-down in the window, most first (ties by
    name, so the evidence is deterministic)."""
    counts = Counter(s for s, negative in window if negative and s != UNKNOWN_SOURCE)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:k]


class FeedbackSpikeDetector(FeedbackDetector):
    """Share of thumbs-down in the last `window` feedback events on this version's answers;
    bad when *above* threshold (default 0.3). Breaches only when the 99 % Wilson lower bound
    is above it too, so a handful of thumbs-down cannot page anyone.

    Feedback that names a request counts only if this version served that request as
    champion (the last `served_limit` requests, default 10,000, are remembered): a version
    kept watched after a deploy is not blamed for its successor's answers. Feedback without
    a request id cannot be attributed and counts for every version watched. The evidence
    names the sources with the most thumbs-down, so a spike that is really poisoning shows.

    A source counts for at most `per_source` (default 5) feedback events of the window
    (`unknown` sources are not capped: they may be many people), so a handful of sources
    sending hundreds of thumbs-down is the poisoning family's business, not a model
    failure (SPEC scenario 10), while many users disliking the answers still counts.
    """

    family = "feedback_spike"
    #: its seeded test traffic: thumbs-down spread over many users once shifted (the
    #: shared stream's bots are the poisoning family's case, which this one leaves alone)
    traffic = "disliked"

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None,
        negative_below: float = 0.0,
        min_events: int | None = None,
        served_limit: int = SERVED_LIMIT,
        per_source: int = 5,
    ) -> None:
        super().__init__(
            name=name,
            window=window,
            threshold=threshold,
            default=SPIKE_THRESHOLD,
            negative_below=negative_below,
            min_events=min_events,
        )
        self.served_limit = require_int("served_limit", served_limit, low=1)
        self.per_source = require_int("per_source", per_source, low=1)
        self._served: OrderedDict[str, None] = OrderedDict()
        self._unattributed = 0

    def observe(self, event: InferenceEvent) -> None:
        if event.route is Route.CHAMPION:
            self._served[event.request_id] = None
            if len(self._served) > self.served_limit:
                self._served.popitem(last=False)

    def observe_batch(self, events: Sequence[InferenceEvent]) -> None:
        served, limit = self._served, self.served_limit
        for event in events:
            if event.route is Route.CHAMPION:
                served[event.request_id] = None
                if len(served) > limit:
                    served.popitem(last=False)

    def _accepts(self, feedback: FeedbackEvent) -> bool:
        if feedback.request_id is None or feedback.request_id in self._served:
            return True
        self._unattributed += 1
        return False

    def check(self) -> Reading | None:
        window = tuple(self._feedback)
        if len(window) < self.min_events:
            return None
        counted = self._capped(window)
        n = len(counted)
        negative = sum(1 for _, bad in counted if bad)
        rate = negative / n
        bound = rate_bound(negative, n, "above")
        top = _top_sources(window, 3)
        evidence: dict[str, Any] = {
            "thumbs_down_rate": rate,
            "thumbs_down": negative,
            "feedback": n,
            "feedback_over_per_source_cap": len(window) - n,
            "lower_bound_99": bound,
            "top_sources": dict(top),
            "top_sources_share": sum(c for _, c in top) / negative if negative else 0.0,
            "unattributed_feedback": self._unattributed,
        }
        return Reading("thumbs_down_rate", rate, self.threshold, "above", n, evidence, bound)

    def _capped(self, window: Sequence[tuple[str, bool]]) -> list[tuple[str, bool]]:
        """The window with each named source's feedback after its first `per_source` left
        out; the first event always stays, so the result is never empty."""
        seen: Counter[str] = Counter()
        kept = []
        for source, bad in window:
            if source != UNKNOWN_SOURCE:
                seen[source] += 1
                if seen[source] > self.per_source:
                    continue
            kept.append((source, bad))
        return kept

    def reset(self) -> None:
        super().reset()
        self._served.clear()
        self._unattributed = 0


class FeedbackPoisoningDetector(FeedbackDetector):
    """Share of the window's thumbs-down sent by its top `k` sources (default 3); bad when
    *above* threshold (default 0.5) — negative feedback concentrated in a few sources.

    It reads only once the window holds at least `min_sources` distinct sources (default
    20), so that the top `k` are a small share of all sources: with three customers, three
    sources sending most thumbs-down is normal. The bound is the 99 % Wilson lower bound on
    the share over at least `min_negative` thumbs-down (default 20): with fewer, the missing
    ones are counted as coming from elsewhere, so a few thumbs-down from one person cannot
    page. The evidence names the sources and their counts.

    Poisoning is about the feedback channel, not one version's answers: every feedback
    event of the model counts, whatever request it names, and served events are not read.
    """

    family = "feedback_poisoning"

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None,
        k: int = 3,
        min_sources: int = 20,
        min_negative: int = 20,
        negative_below: float = 0.0,
        min_events: int | None = None,
    ) -> None:
        super().__init__(
            name=name,
            window=window,
            threshold=threshold,
            default=POISONING_THRESHOLD,
            negative_below=negative_below,
            min_events=min_events,
        )
        self.k = require_int("k", k, low=1)
        self.min_sources = require_int("min_sources", min_sources, low=2 * self.k)
        self.min_negative = require_int("min_negative", min_negative, low=1)

    def observe(self, event: InferenceEvent) -> None:
        """Served events say nothing about who sends feedback."""

    def observe_batch(self, events: Sequence[InferenceEvent]) -> None:
        """Served events say nothing about who sends feedback."""

    def check(self) -> Reading | None:
        window = tuple(self._feedback)
        n = len(window)
        if n < self.min_events:
            return None
        named = {s for s, _ in window if s != UNKNOWN_SOURCE}
        sources = len(named) + sum(1 for s, _ in window if s == UNKNOWN_SOURCE)
        if sources < self.min_sources:
            return None
        negative = sum(1 for _, bad in window if bad)
        top = _top_sources(window, self.k)
        from_top = sum(c for _, c in top)
        share = from_top / negative if negative else 0.0
        bound = rate_bound(from_top, max(negative, self.min_negative), "above")
        evidence: dict[str, Any] = {
            "problem": "feedback loop: negative feedback concentrated in few sources",
            "top_sources": dict(top),
            "top_share": share,
            "thumbs_down": negative,
            "feedback": n,
            "sources": sources,
            "lower_bound_99": bound,
        }
        return Reading("top_sources_share", share, self.threshold, "above", n, evidence, bound)
