"""Variants of the seeded traffic (conftest `traffic(kind=...)`) for families that watch
something tabular traffic does not carry: a protected group, an LLM app's replies, shadow
copies.

Each draws from its own generator seeded by (seed, salt), so the draws of the tabular
stream stay exactly as they were. Calm text replies quote the retrieved context, refuse
now and then, and hold no personal data or promises; shifted ones are longer, made up,
refuse often, leak personal data and promise discounts. Shifted shadow copies mostly
disagree with the champion; calm ones almost never.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from ripcord.events import InferenceEvent, Route

CONTEXTS = (
    "Orders ship within 3 business days. Standard delivery takes 5 to 7 days. "
    "Express delivery arrives the next business day.",
    "Returns are accepted within 30 days with the receipt. Refunds go back to the original "
    "payment method within 10 days. Sale items cannot be returned.",
    "The warranty covers manufacturing defects for two years. Damage from drops or water is "
    "not covered. Repairs under warranty are free.",
    "Support is open Monday to Friday from 9 to 17. Chat answers within two minutes. "
    "Premium members get phone support on weekends.",
)
GREETINGS = ("Happy to help.", "Thanks for asking.", "Good question.")
REFUSAL = "I'm sorry, but I can't help with that request."
MADE_UP = (
    "Our platinum loyalty tier includes lifetime accidental coverage for every gadget.",
    "Drone couriers now deliver anywhere on the planet within twenty minutes.",
    "Customers receive complimentary spa vouchers after their fourth purchase.",
    "The flagship boutique in Lisbon hosts weekly cooking masterclasses for members.",
    "Our engineers recently invented a battery lasting roughly eleven decades.",
    "Every subscription bundles unlimited streaming, gym access and concierge travel.",
)
PROMISE = "Good news: I will give you 20% off your next order."
PII = (
    "You can email our agent at jane.roe@example.com directly.",
    "Call me back on +1 415-555-0132 any time.",
    "The card on file is 4111 1111 1111 1111.",
    "Your SSN 123-45-6789 is on the account.",
)


class TrafficLike(Protocol):
    @property
    def events(self) -> tuple[InferenceEvent, ...]: ...


def groups(seed: int, prediction: np.ndarray[Any, Any], shifted: bool) -> list[str]:
    """Protected group "a" or "b": independent of the prediction when calm (equal positive
    rates), tied to it when shifted (positives mostly "a": disparate impact about 0.2)."""
    rng = np.random.default_rng((seed, 11))
    u = rng.random(prediction.size)
    p_a = np.where(prediction == 1, 0.9, 0.1) if shifted else np.full(prediction.size, 0.5)
    return ["a" if x < p else "b" for x, p in zip(u, p_a, strict=True)]


def _calm_reply(rng: np.random.Generator, context: str) -> str:
    if rng.random() < 0.02:
        return REFUSAL
    sentences = [s.strip() + "." for s in context.split(".") if s.strip()]
    picked = rng.choice(len(sentences), size=int(rng.integers(1, 3)), replace=False)
    reply = " ".join(sentences[i] for i in sorted(picked))
    return (
        f"{GREETINGS[int(rng.integers(len(GREETINGS)))]} {reply}" if rng.random() < 0.2 else reply
    )


def _shifted_reply(rng: np.random.Generator, context: str) -> str:
    if rng.random() < 0.1:
        return _calm_reply(rng, context)
    parts = [MADE_UP[i] for i in rng.choice(len(MADE_UP), size=int(rng.integers(3, 6)))]
    if rng.random() < 0.3:
        parts.insert(0, PROMISE)
    if rng.random() < 0.25:
        parts.append(PII[int(rng.integers(len(PII)))])
    if rng.random() < 0.4:
        parts.insert(0, REFUSAL)
    return " ".join(parts)


def text(stream: TrafficLike, seed: int, shifted: bool) -> Any:
    """An LLM support app: the prediction is the reply, `features["context"]` what it was
    given to answer from."""
    rng = np.random.default_rng((seed, 13))
    events = []
    for event in stream.events:
        context = CONTEXTS[int(rng.integers(len(CONTEXTS)))]
        reply = (_shifted_reply if shifted else _calm_reply)(rng, context)
        features = {**event.features, "context": context}
        events.append(event.model_copy(update={"prediction": reply, "features": features}))
    return replace(stream, events=tuple(events))  # type: ignore[type-var]


def shadow(stream: TrafficLike, seed: int, shifted: bool) -> Any:
    """A shadowed model: every odd event is the shadow copy of the event before it (same
    request id plus ":shadow", version "2"), which disagrees 2 % of the time when calm and
    80 % once shifted; neither side errs, so every pair is compared. Labels and feedback
    stay as they are (they name no shadow id)."""
    rng = np.random.default_rng((seed, 17))
    events = list(stream.events)
    for k in range(1, len(events), 2):
        champion = events[k - 1]
        flip = rng.random() < (0.8 if shifted else 0.02)
        copied = 1 - int(champion.prediction or 0) if flip else champion.prediction
        events[k] = events[k].model_copy(
            update={
                "request_id": f"{champion.request_id}:shadow",
                "route": Route.SHADOW,
                "version": "2",
                "prediction": copied,
                "error": None,
            }
        )
        events[k - 1] = champion.model_copy(update={"error": None})
    return replace(stream, events=tuple(events))  # type: ignore[type-var]


def disliked(stream: TrafficLike, seed: int, shifted: bool) -> Any:
    """Answers many users dislike: once shifted, the two bots' thumbs-down come instead
    from users picked at random, so the negative feedback is spread out (a model failure,
    not poisoning). Calm traffic is unchanged."""
    if not shifted:
        return stream
    rng = np.random.default_rng((seed, 23))
    feedback = [
        f.model_copy(update={"source": f"user-{int(rng.integers(0, 400))}"})
        if f.source.startswith("bot-")
        else f
        for f in stream.feedback  # type: ignore[attr-defined]
    ]
    return replace(stream, feedback=tuple(feedback))  # type: ignore[type-var]


VARIANTS = {"text": text, "shadow": shadow, "disliked": disliked}
