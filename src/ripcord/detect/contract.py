"""Contract breaks: the share of requests whose input broke the model's input contract.

Every route counts, blocked ones included: a broken upstream pipeline shows here first
(SPEC scenarios 2 and 8), whatever the guard then did with the request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ripcord.detect.base import Evidence, Reading
from ripcord.detect.windows import WindowedDetector, rate_bound, require_number
from ripcord.events import InferenceEvent, Route

#: No SLA names a contract-break rate; 5 % of requests is where the SPEC's SEV-3 starts.
DEFAULT_THRESHOLD = 0.05

#: One window entry: (broken?, the violation messages).
Entry = tuple[bool, tuple[str, ...]]


def violated_field(message: str) -> str:
    """The field a violation names: the text before the first ':' ("income: -5 is ...")."""
    field, sep, _ = message.partition(":")
    return field.strip() if sep else "(unknown)"


class ContractDetector(WindowedDetector[Entry]):
    """Share of the last `window` events (all routes) with violations or a `blocked` route;
    bad when *above* threshold (default 0.05).

    Reads once `min_events` (default min(window, 30)) events are in, like the other rate
    detectors. Evidence counts broken events per violated field, so the report can say
    "income broke on 180 requests" rather than "contract broke".
    """

    family = "contract"
    default_threshold = DEFAULT_THRESHOLD

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None = DEFAULT_THRESHOLD,
        min_events: int | None = None,
    ) -> None:
        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        super().__init__(name=name, window=window, threshold=threshold, min_events=min_events)
        require_number("threshold", self.threshold, low=0.0, high=1.0)

    def _take(self, event: InferenceEvent) -> Entry:
        if not event.violations:  # nearly every event: no generator to build
            return (event.route is Route.BLOCKED, ())
        # Guardrail hits are the guardrails' business (they acted already), not the contract's.
        broken = tuple(v for v in event.violations if not v.startswith("guardrail:"))
        return (bool(broken) or event.route is Route.BLOCKED, broken)

    def _take_all(self, events: Sequence[InferenceEvent]) -> list[Entry | None]:
        blocked, take = Route.BLOCKED, self._take
        return [(e.route is blocked, ()) if not e.violations else take(e) for e in events]

    def _read(self, values: Sequence[Entry]) -> Reading:
        broken = sum(1 for bad, _ in values if bad)
        rate = broken / len(values)
        bound = rate_bound(broken, len(values), "above")

        def evidence() -> dict[str, Any]:
            fields: Counter[str] = Counter()
            examples: list[str] = []
            for _, violations in values:
                if violations:  # most events break nothing: skip them cheaply
                    fields.update({violated_field(v) for v in violations})  # once per event
                    examples += violations[: 3 - len(examples)]
            return {
                "violation_rate": rate,
                "broken": broken,
                "count": len(values),
                "fields": dict(fields.most_common()),
                "examples": examples,
                "lower_bound_99": bound,
            }

        return Reading(
            "violation_rate", rate, self.threshold, "above", len(values), Evidence(evidence), bound
        )
