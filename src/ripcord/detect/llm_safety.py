"""LLM output safety: personal data in replies, and replies that break a policy.

Both read the model's own replies (`champion` events with a string prediction) and the
output guardrails' hits on `guarded` events: a reply a guardrail caught was still produced
by the model, and counting it is how a support bot that keeps promising discounts raises an
incident although each promise was blocked (SPEC scenario 6).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import ValidationError

from ripcord.detect.base import Detector, Reading, Reference
from ripcord.detect.pii import KINDS, find_pii
from ripcord.detect.text import TextDetector, guardrail_hits, reply_text
from ripcord.detect.windows import rate_bound, require_number
from ripcord.events import InferenceEvent
from ripcord.sop.guardrails import GuardrailSpec
from ripcord.sop.schema import DetectorSpec, ModelSop

#: One PII window entry: (kind, masked text) per piece found; the raw text is never kept.
PiiEntry = tuple[tuple[str, str], ...]
#: One policy window entry: (rule name, the phrase that matched) per rule that fired.
PolicyEntry = tuple[tuple[str, str], ...]
EXAMPLES = 3
#: A matched phrase is shown up to this many characters in the evidence.
PHRASE_CHARS = 80

#: Built-in policy rules (SPEC scenario 6): promising a discount or a refund. "I can't give
#: you a discount" is not a promise, hence the negative look-behinds.
_NOT = r"(?<!n't )(?<!not )(?<!cannot )(?<!never )"
DEFAULT_POLICY_RULES: dict[str, str] = {
    "discount-promise": (
        r"(?i)\b\d{1,3} ?(?:%|percent) (?:off|discount)\b"
        rf"|{_NOT}\b(?:give|offer|apply|get) you (?:an? )?(?:\d{{1,3}} ?(?:%|percent) )?"
        r"(?:discount|coupon|voucher)"
    ),
    "refund-promise": (
        rf"(?i){_NOT}\b(?:i|we)(?:'ll| will| can| are going to) "
        r"(?:give you |issue you |issue |process |send you )?(?:an? )?(?:full |complete )?refund"
    ),
}


class PiiDetector(TextDetector[PiiEntry]):
    """Share of the last `window` replies holding personal data: e-mail, phone, payment
    card (Luhn), IBAN (mod 97), national id (US SSN, UK NINO); see `ripcord.detect.pii`.

    Any PII is SEV-1 (SPEC), so the threshold defaults to 0: one leak in the window
    breaches, and `min_events` defaults to 1 because a leak needs no sample size. `kinds`
    (default all) limits what is looked for. Evidence counts leaks per kind and shows up to
    three examples masked; the raw text is not kept, not even in the window.
    """

    family = "pii"
    default_threshold = 0.0  # one reply with personal data is too many

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None = 0.0,
        kinds: Sequence[str] = KINDS,
        min_events: int | None = 1,
    ) -> None:
        threshold = 0.0 if threshold is None else threshold
        super().__init__(name=name, window=window, threshold=threshold, min_events=min_events)
        require_number("threshold", self.threshold, low=0.0, high=1.0)
        if isinstance(kinds, str) or not kinds or not set(kinds) <= set(KINDS):
            raise ValueError(f"kinds: {kinds!r} must be a non-empty list of {', '.join(KINDS)}")
        self.kinds = tuple(k for k in KINDS if k in kinds)

    def _take(self, event: InferenceEvent) -> PiiEntry | None:
        reply = reply_text(event)
        hits = guardrail_hits(event)
        if reply is None and not hits:
            return None
        texts = [reply] if reply is not None else [seen for _, seen in hits]
        return tuple((f.kind, f.masked) for text in texts for f in find_pii(text, self.kinds))

    def _read(self, values: Sequence[PiiEntry]) -> Reading:
        leaks = sum(1 for found in values if found)
        kinds: Counter[str] = Counter(kind for found in values for kind, _ in found)
        examples = [f"{kind} {masked}" for found in values for kind, masked in found]
        rate = leaks / len(values)
        evidence: dict[str, Any] = {
            "pii_rate": rate,
            "replies_with_pii": leaks,
            "count": len(values),
            "kinds": {k: kinds[k] for k in self.kinds if kinds[k]},
            "examples_masked": examples[-EXAMPLES:],
        }
        bound = rate_bound(leaks, len(values), "above")
        evidence["lower_bound_99"] = bound
        return Reading("pii_rate", rate, self.threshold, "above", len(values), evidence, bound)


def compile_rules(rules: object) -> dict[str, GuardrailSpec]:
    """Policy rules {name: regex} as output guardrail specs, so that a rule and a guardrail
    of the same name mean the same thing and a bad regex fails the same way."""
    if not isinstance(rules, Mapping) or not rules:
        raise ValueError(f"rules: {rules!r} must be a non-empty mapping of name to regex")
    compiled = {}
    for rule_name, pattern in rules.items():
        try:
            compiled[str(rule_name)] = GuardrailSpec(name=rule_name, on="output", pattern=pattern)
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"]
            raise ValueError(f"rules.{rule_name}: {pattern!r} {problem}") from None
    return compiled


def guardrail_rules(model: ModelSop) -> dict[str, str]:
    """The model's output guardrails that match text, as policy rules by their names."""
    return {
        g.name: g.pattern
        for g in model.guardrails
        if g.on == "output" and g.pattern is not None and g.field is None
    }


class PolicyPhraseDetector(TextDetector[PolicyEntry]):
    """Share of the last `window` replies matching a policy rule; bad *above* threshold
    (default 0.01: one reply in a hundred).

    `rules` maps a rule name to a regex. By default: the built-in discount- and
    refund-promise rules plus the model's own output guardrails that match text. A reply a
    guardrail caught counts for the rule of the guardrail's name (or any rule its quoted
    match fits). Evidence counts matches per rule with up to three matched phrases.
    """

    family = "policy_phrases"
    default_threshold: ClassVar[float] = 0.01

    def __init__(
        self,
        *,
        name: str,
        window: int,
        threshold: float | None = None,
        rules: Mapping[str, str] | None = None,
        min_events: int | None = None,
    ) -> None:
        threshold = self.default_threshold if threshold is None else threshold
        super().__init__(name=name, window=window, threshold=threshold, min_events=min_events)
        require_number("threshold", self.threshold, low=0.0, high=1.0)
        self.rules = compile_rules(DEFAULT_POLICY_RULES if rules is None else rules)

    @classmethod
    def from_spec(cls, spec: DetectorSpec, model: ModelSop, reference: Reference) -> Detector:
        params = dict(spec.params)
        params.setdefault("rules", {**DEFAULT_POLICY_RULES, **guardrail_rules(model)})
        threshold = cls.threshold_for(spec, model)
        return cls(name=spec.key, window=spec.window, threshold=threshold, **params)

    def _matches(self, text: str) -> list[tuple[str, str]]:
        found = []
        for rule_name, rule in self.rules.items():
            match = rule.regex.search(text) if rule.regex is not None else None
            if match is not None:
                found.append((rule_name, match.group(0)[:PHRASE_CHARS]))
        return found

    def _take(self, event: InferenceEvent) -> PolicyEntry | None:
        reply = reply_text(event)
        if reply is not None:
            return tuple(self._matches(reply))
        hits = guardrail_hits(event)
        if not hits:
            return None
        found = dict(m for _, seen in hits for m in self._matches(seen))
        found.update((g, seen[:PHRASE_CHARS]) for g, seen in hits if g in self.rules)
        return tuple(sorted(found.items()))

    def _read(self, values: Sequence[PolicyEntry]) -> Reading:
        matching = sum(1 for found in values if found)
        rules: Counter[str] = Counter(rule for found in values for rule, _ in found)
        phrases = [f"{rule}: {phrase}" for found in values for rule, phrase in found]
        rate = matching / len(values)
        evidence: dict[str, Any] = {
            "policy_rate": rate,
            "matching": matching,
            "count": len(values),
            "rules": dict(rules.most_common()),
            "examples": phrases[-EXAMPLES:],
        }
        bound = rate_bound(matching, len(values), "above")
        evidence["lower_bound_99"] = bound
        return Reading("policy_rate", rate, self.threshold, "above", len(values), evidence, bound)
