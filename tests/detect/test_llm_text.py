"""LLM reply families: policy phrases, refusals, reply length and groundedness."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.stats import ks_2samp

from ripcord.detect import (
    GroundednessDetector,
    OutputLengthDetector,
    PolicyPhraseDetector,
    RefusalRateDetector,
)
from ripcord.detect.base import DetectorRegistry, Reference
from ripcord.detect.text import content_tokens, groundedness
from ripcord.events import InferenceEvent, Route
from ripcord.sop.guardrails import GuardrailSpec
from ripcord.sop.schema import DetectorSpec, ModelSop

Event = Callable[..., InferenceEvent]
CONTEXT = "Orders ship within 3 business days. Returns are accepted within 30 days."


# -- policy phrases (SPEC scenario 6) ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rules"),
    [
        ("Good news: I will give you 20% off your next order!", ["discount-promise"]),
        ("I can offer you a coupon for that.", ["discount-promise"]),
        ("We'll issue a full refund today.", ["refund-promise"]),
        ("I can't give you a discount, sorry.", []),
        ("We can't refund sale items.", []),
        ("Returns are accepted within 30 days.", []),
    ],
)
def test_default_policy_rules(event: Event, text: str, rules: list[str]) -> None:
    d = PolicyPhraseDetector(name="p", window=10, min_events=1)
    d.observe(event(0, prediction=text))
    reading = d.check()
    assert reading is not None and list(reading.evidence["rules"]) == rules


def test_model_guardrails_become_rules_and_their_catches_count(
    registry: DetectorRegistry, reference: Reference, event: Event
) -> None:
    guard = GuardrailSpec(
        name="no-free-shipping",
        on="output",
        pattern="(?i)free shipping",
        action="replace",
        replacement="A colleague will follow up.",
    )
    model = ModelSop(owner="t", guardrails=(guard,))
    d = registry.build(DetectorSpec(type="policy_phrases", window=100), model, reference)
    assert isinstance(d, PolicyPhraseDetector)
    assert set(d.rules) == {"discount-promise", "refund-promise", "no-free-shipping"}
    for i in range(40):
        d.observe(event(i, prediction="Orders ship within 3 business days."))
    caught = "guardrail:no-free-shipping: matched 'free shipping'"
    for i in range(40, 50):  # the guardrail replaced each reply, but the model wrote them
        d.observe(
            event(i, prediction="A colleague will follow up.", route=Route.GUARDED,
                  violations=(caught,))
        )  # fmt: skip
    reading = d.check()
    assert reading is not None and reading.value == pytest.approx(0.2) and reading.breached
    assert reading.evidence["rules"] == {"no-free-shipping": 10}
    assert reading.evidence["examples"][-1].startswith("no-free-shipping: matched")


def test_explicit_rules_replace_the_defaults_and_bad_regex_is_named(
    registry: DetectorRegistry, model: ModelSop, reference: Reference
) -> None:
    spec = DetectorSpec(type="policy_phrases", params={"rules": {"legal": "(?i)legal advice"}})
    d = registry.build(spec, model, reference)
    assert isinstance(d, PolicyPhraseDetector) and list(d.rules) == ["legal"]
    with pytest.raises(ValueError, match=r"^rules\.broken: '\(unclosed' "):
        PolicyPhraseDetector(name="p", window=10, rules={"broken": "(unclosed"})
    with pytest.raises(ValueError, match=r"^rules: \{\} must be"):
        PolicyPhraseDetector(name="p", window=10, rules={})


# -- refusals --------------------------------------------------------------------------


def test_refusal_rate_with_default_and_custom_phrases(event: Event) -> None:
    d = RefusalRateDetector(name="r", window=100)
    texts = ["I can't wait to help you!"]  # not a refusal; drops out of the window
    texts += ["I\u2019m sorry, but I can\u2019t help with that."] * 20 + ["Sure: it ships."] * 80
    for i, text in enumerate(texts):
        d.observe(event(i, prediction=text))
    reading = d.check()
    assert reading is not None and reading.value == pytest.approx(0.2) and reading.breached
    assert reading.evidence["phrases"] == {"i'm sorry, but i can't": 20}
    custom = RefusalRateDetector(name="r", window=10, phrases=["Nope"], min_events=1)
    custom.observe(event(0, prediction="nope, not today"))
    assert (r := custom.check()) is not None and r.value == 1.0
    with pytest.raises(ValueError, match=r"^phrases: \[''\] must be"):
        RefusalRateDetector(name="r", window=10, phrases=[""])


# -- reply length ----------------------------------------------------------------------


def text_reference(lengths: list[int]) -> Reference:
    reference = Reference(len(lengths))
    for n in lengths:
        reference.add({}, " ".join(["word"] * n))
    return reference


def test_length_ks_matches_scipy_and_flags_longer_replies(event: Event) -> None:
    rng = np.random.default_rng(4)
    base = [int(x) for x in rng.poisson(20, 500)]
    d = OutputLengthDetector(name="l", window=200, reference=text_reference(base))
    window = [int(x) for x in rng.poisson(40, 200)]
    for i, n in enumerate(window[:199]):
        d.observe(event(i, prediction=" ".join(["w"] * n)))
    assert d.check() is None  # reads on a full window only
    d.observe(event(199, prediction=" ".join(["w"] * window[199])))
    reading = d.check()
    assert reading is not None and reading.breached
    assert reading.value == pytest.approx(ks_2samp(base, window).statistic, abs=1e-9)
    assert reading.evidence["longer_or_shorter"] == "longer"
    assert reading.evidence["window_median"] > reading.evidence["reference_median"]


def test_length_waits_for_a_frozen_text_reference_and_counts_chars(event: Event) -> None:
    reference = Reference(40)
    d = OutputLengthDetector(name="l", window=30, reference=reference, unit="chars")
    for i in range(30):
        d.observe(event(i, prediction="x" * 10))
    assert d.check() is None  # the baseline is still filling
    for _ in range(40):
        reference.add({}, "x" * 10)
    reading = d.check()
    assert reading is not None and reading.value == 0.0 and not reading.breached
    numbers = Reference(40)
    for _ in range(40):
        numbers.add({}, 1)  # a tabular model's reference holds no replies
    d = OutputLengthDetector(name="l", window=30, reference=numbers)
    for i in range(30):
        d.observe(event(i, prediction="x"))
    assert d.check() is None
    with pytest.raises(ValueError, match=r"^unit: 'tokens' must be one of"):
        OutputLengthDetector(name="l", window=30, reference=numbers, unit="tokens")


# -- groundedness ----------------------------------------------------------------------


def test_groundedness_score_by_hand() -> None:
    assert content_tokens("The orders ship in 3 days!") == ["order", "ship", "day"]
    # content words: order, ship, within, business, day, free, upgrade -> 5 of 7 supported
    score = groundedness("Orders ship within 3 business days with free upgrades.", CONTEXT)
    assert score == pytest.approx(5 / 7)
    assert groundedness("It is what it is.", CONTEXT) is None  # no content words
    assert groundedness("Drones deliver lunch on Mars.", CONTEXT) == 0.0


def test_mean_groundedness_and_ungrounded_rate(event: Event) -> None:
    mean = GroundednessDetector(name="g", window=400)
    rate = GroundednessDetector(name="g", window=400, metric="ungrounded_rate")
    replies = ["Orders ship within 3 business days."] * 240 + [
        "Drones deliver lunch on Mars."
    ] * 160
    for i, text in enumerate(replies):
        for d in (mean, rate):
            d.observe(event(i, prediction=text, features={"context": CONTEXT}))
            d.observe(event(1000 + i, prediction=text))  # no context: skipped
    m, r = mean.check(), rate.check()
    assert m is not None and m.value == pytest.approx(0.6) and m.breached
    assert m.threshold == 0.7 and m.direction == "below"
    assert r is not None and r.value == pytest.approx(0.4) and r.breached
    assert r.threshold == 0.2 and r.direction == "above" and r.window == 400


def test_groundedness_context_feature_and_defaults_from_the_sop(
    registry: DetectorRegistry, model: ModelSop, reference: Reference, event: Event
) -> None:
    spec = DetectorSpec(
        type="groundedness", params={"context_feature": "docs", "metric": "ungrounded_rate"}
    )
    d = registry.build(spec, model, reference)
    assert isinstance(d, GroundednessDetector) and d.threshold == 0.2
    d.min_events = 1
    d.observe(event(0, prediction="Orders ship.", features={"docs": CONTEXT}))
    assert (reading := d.check()) is not None and reading.value == 0.0
    with pytest.raises(ValueError, match=r"^min_score: 2 must be in"):
        GroundednessDetector(name="g", window=10, min_score=2)
