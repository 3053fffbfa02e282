"""Feedback families: a thumbs-down spike, and poisoning from a handful of sources."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ripcord.detect.feedback import FeedbackPoisoningDetector, FeedbackSpikeDetector
from ripcord.events import FeedbackEvent, InferenceEvent, Route

Event = Callable[..., InferenceEvent]
Feedback = Callable[..., FeedbackEvent]


def spike(**kwargs: object) -> FeedbackSpikeDetector:
    params: dict[str, object] = {"name": "spike", "window": 200, "threshold": None, **kwargs}
    return FeedbackSpikeDetector(**params)  # type: ignore[arg-type]


def poisoning(**kwargs: object) -> FeedbackPoisoningDetector:
    params: dict[str, object] = {"name": "poison", "window": 200, "threshold": None, **kwargs}
    return FeedbackPoisoningDetector(**params)  # type: ignore[arg-type]


def test_spike_defaults_and_a_sure_rise_breaches(feedback: Feedback) -> None:
    d = spike()
    assert (d.threshold, d.min_events) == (0.3, 30)
    for i in range(200):  # 40 % thumbs-down from 200 different users
        d.observe_feedback(feedback(None, -1.0 if i % 5 < 2 else 1.0, f"user-{i}", i))
    reading = d.check()
    assert reading is not None and reading.breached
    assert reading.value == pytest.approx(0.4)
    assert reading.bound is not None and 0.3 < reading.bound < 0.4
    assert reading.evidence["thumbs_down"] == 80


def test_a_handful_of_thumbs_down_cannot_page(feedback: Feedback) -> None:
    d = spike(min_events=10)
    for i in range(10):  # half of ten: above 0.3, but ten votes prove nothing
        d.observe_feedback(feedback(None, -1.0 if i % 2 else 1.0, f"user-{i}", i))
    reading = d.check()
    assert reading is not None and reading.value == 0.5 and not reading.breached


def test_spike_counts_only_feedback_on_its_own_answers(event: Event, feedback: Feedback) -> None:
    d = spike(min_events=3)
    d.observe(event(1))
    d.observe(event(2, route=Route.FALLBACK))  # the fallback's answer, not this version's
    d.observe_feedback(feedback("r1", -1.0, "a"))
    d.observe_feedback(feedback("r2", -1.0, "b"))  # on the fallback: ignored
    d.observe_feedback(feedback("r99", -1.0, "c"))  # another version's request: ignored
    d.observe_feedback(feedback(None, -1.0, "d"))  # no request: cannot be attributed, counts
    assert d.check() is None  # two taken, three needed
    d.observe_feedback(feedback(None, 1.0, "e"))
    reading = d.check()
    assert reading is not None
    assert (reading.window, reading.evidence["unattributed_feedback"]) == (3, 2)


def test_spike_served_ids_are_bounded(event: Event, feedback: Feedback) -> None:
    d = spike(min_events=1, served_limit=2)
    for i in range(3):
        d.observe(event(i))
    d.observe_feedback(feedback("r0", -1.0, "a"))  # forgotten: the oldest of three
    d.observe_feedback(feedback("r2", -1.0, "a"))
    reading = d.check()
    assert reading is not None and reading.window == 1


def test_negative_below_sets_what_counts_as_thumbs_down(feedback: Feedback) -> None:
    d = spike(min_events=4, negative_below=0.5)
    for i, score in enumerate((0.0, 0.4, 0.6, 1.0)):
        d.observe_feedback(feedback(None, score, f"u{i}"))
    reading = d.check()
    assert reading is not None and reading.value == 0.5


def test_spike_evidence_names_the_sources_behind_it(feedback: Feedback) -> None:
    d = spike(min_events=1)
    for i in range(6):
        d.observe_feedback(feedback(None, -1.0, "bot-1" if i < 4 else f"user-{i}"))
    reading = d.check()
    assert reading is not None
    assert reading.evidence["top_sources"] == {"bot-1": 4, "user-4": 1, "user-5": 1}


def poison_window(
    feedback: Feedback, bots: int, bot_share: float, users: int = 100
) -> list[FeedbackEvent]:
    """200 feedback events: `bot_share` of them thumbs-down from `bots` sources, the rest
    from `users` users with one thumbs-down in ten."""
    out = []
    for i in range(200):
        if i % 100 < bot_share * 100:
            out.append(feedback(None, -1.0, f"bot-{i % bots}", i))
        else:
            out.append(feedback(None, -1.0 if i % 10 == 0 else 1.0, f"user-{i % users}", i))
    return out


def test_thumbs_down_from_a_handful_of_sources_is_poisoning(feedback: Feedback) -> None:
    d = poisoning()
    for f in poison_window(feedback, bots=2, bot_share=0.3):
        d.observe_feedback(f)
    reading = d.check()
    assert reading is not None and reading.breached
    assert reading.metric == "top_sources_share"
    assert reading.evidence["top_sources"] == {"bot-0": 30, "bot-1": 30, "user-30": 2}
    assert reading.evidence["problem"].startswith("feedback loop")
    assert reading.value == pytest.approx(62 / 74)


def test_broad_thumbs_down_is_not_poisoning(feedback: Feedback) -> None:
    d = poisoning()
    for i in range(200):  # every other vote a thumbs-down, from 100 users evenly
        d.observe_feedback(feedback(None, -1.0 if i % 2 else 1.0, f"user-{i % 100}", i))
    reading = d.check()
    assert reading is not None and not reading.breached
    assert reading.value == pytest.approx(6 / 100)


def test_few_thumbs_down_from_one_source_do_not_page(feedback: Feedback) -> None:
    d = poisoning()
    for i in range(200):  # 8 thumbs-down, all from one person: under `min_negative`
        source, score = ("grumpy", -1.0) if i < 8 else (f"user-{i}", 1.0)
        d.observe_feedback(feedback(None, score, source, i))
    reading = d.check()
    assert reading is not None and reading.value == 1.0 and not reading.breached
    d = poisoning(min_negative=8)
    for i in range(200):
        source, score = ("grumpy", -1.0) if i < 8 else (f"user-{i}", 1.0)
        d.observe_feedback(feedback(None, score, source, i))
    reading = d.check()
    assert reading is not None and reading.breached


def test_feedback_without_a_source_is_never_concentrated(feedback: Feedback) -> None:
    d = poisoning()
    for i in range(200):
        d.observe_feedback(feedback(None, -1.0, "unknown", i))
    reading = d.check()
    assert reading is not None and reading.value == 0.0 and not reading.breached
    assert reading.evidence["sources"] == 200


def test_too_few_sources_is_too_little_data(feedback: Feedback) -> None:
    d = poisoning(min_sources=6)
    for i in range(200):  # five customers: their complaints are not a handful among many
        d.observe_feedback(feedback(None, -1.0, f"customer-{i % 5}", i))
    assert d.check() is None
    d.observe_feedback(feedback(None, 1.0, "customer-5"))
    assert d.check() is not None


def test_reset_forgets_the_feedback(event: Event, feedback: Feedback) -> None:
    for d in (spike(min_events=1), poisoning(min_events=1, min_sources=6)):
        d.observe(event(1))
        for i in range(10):
            d.observe_feedback(feedback("r1", -1.0, f"s{i}"))
        assert d.check() is not None
        d.reset()
        assert d.check() is None


@pytest.mark.parametrize(
    ("build", "kwargs", "message"),
    [
        (spike, {"threshold": 1.5}, r"^threshold: 1\.5 must be in \[0, 1\]"),
        (spike, {"negative_below": -1.0}, r"^negative_below: -1\.0 must be in \(-1, 1\)"),
        (spike, {"min_events": 0}, r"^min_events: 0 must be in \[1, 200\]"),
        (spike, {"served_limit": 0}, r"^served_limit: 0 must be >= 1"),
        (poisoning, {"k": 0}, r"^k: 0 must be >= 1"),
        (poisoning, {"min_sources": 5}, r"^min_sources: 5 must be >= 6"),
        (poisoning, {"min_negative": 0}, r"^min_negative: 0 must be >= 1"),
    ],
)
def test_parameters_are_validated_by_name(
    build: Callable[..., object], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build(**kwargs)
